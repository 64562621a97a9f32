/**
 * @module protocol/codec
 * A Codec is one wire protocol's shape, and nothing else: how a client's frame becomes an intent for the core,
 * and how the core's events, acknowledgements, errors and resets become text on the wire. msghub's own protocol
 * is `msghubCodec` (protocol/msghub.ts); the adapters of older systems (x0, Texto, SimpleBus) bring theirs.
 *
 * Contract, for every implementation:
 * - `decode` parses and checks the frame before anything else sees it (the checks of pipeline/untrusted.ts
 *   apply to every value it hands on) and returns one intent. It throws a catalogued MhError only when not even the
 *   request's reference could be read; once it could, a refusal comes back as `invalid` with that reference.
 * - The encoders never throw: a reference that cannot be encoded is left out, never the error itself.
 * - `event` is called once per event and projection for every subscriber of the codec (the hub shares the text),
 *   and `history` once per row a replay sends: neither may depend on who receives it.
 * - Frames are sent in the order the core asks for them: every event after the history or replay it follows,
 *   every acknowledgement after the event it acknowledges has been handed to the hub.
 */
import type { MhError } from '../errors.js';
import type { Message } from '../pipeline/parse.js';
import type { Row } from '../types.js';

/** What a client's frame asks for. `ref` is the client's reference for the answer (msghub: `_ref`). */
export type Intent =
  | { kind: 'message'; msg: Message; ref: unknown }
  /** Everything up to `seq` arrived (durable delivery). */
  | { kind: 'ack'; seq: unknown; ref: unknown }
  /** A fresher token for the same user. */
  | { kind: 'auth'; token: unknown; ref: unknown }
  /** A frame refused after its reference was read, so the answer can still name the request. */
  | { kind: 'invalid'; error: MhError; ref: unknown }
  /**
   * A request of the protocol's own that is not a message (Texto's `registration`, SimpleBus's `confirmation`):
   * handed, already checked by the codec, to the adapter's `SubscribeOptions.control`.
   */
  | { kind: 'control'; control: unknown; ref: unknown };

/** A committed message's acknowledgement (`seq` null for a direct message, which is never stored). */
export interface Ack {
  seq: number | null;
  ref: unknown;
  id: string;
}

export interface Codec {
  readonly name: string;
  decode(text: string): Intent;
  /** A live or resumed event (the frame carries `_method`, and `_seq` for stored events). */
  event(frame: Row): string;
  /** A history row (no `_method`). */
  history(row: Row): string;
  ack(ack: Ack): string;
  error(err: MhError, ref?: unknown): string;
  /** A resume from `since` could not be served from the event record: history follows instead. */
  reset(since: number, oldest: number, seq: number): string;
  /** A token refresh was accepted; the connection now lasts until `expiresAt` (ms since epoch; null: no expiry). */
  authOk(ref: unknown, expiresAt: number | null): string;
}
