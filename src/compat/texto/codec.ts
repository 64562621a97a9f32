/**
 * @module compat/texto/codec
 * Texto v1's wire protocol (kureuil/texto, protocol.go and client.go) as a Codec: one JSON object per frame,
 * `{"client_id", "id", "kind", "data"}` in that order.
 *
 *   → {"client_id":"C","id":"M","kind":"send","data":{"receiver_id":"R","text":"hi"}}   a message: intake
 *   ← {"client_id":"C","id":"M","kind":"ack","data":null}                               … committed (stored)
 *   ← {"client_id":"R","id":"<row id>","kind":"receive","data":{"sender_id":"C","text":"hi"}}   to R
 *   → {"client_id":"R","id":"<row id>","kind":"ack","data":null}                         R got it (a control)
 *   → {"client_id":"P","id":"M","kind":"registration","data":null}                       (a control)
 *   ← {"client_id":"C","id":"<M or new>","kind":"error","data":{"code":"ECID","description":"…"}}
 *
 * Reading follows Go's encoding/json as Texto used it: keys match case-insensitively (the last one wins), unknown
 * keys are ignored, UUIDs are read by compat/texto/uuid.ts (a missing or null one is the nil UUID), `data` must be
 * present and not null for `send`, `error`, `connection` and `receive` and is ignored for `registration` and
 * `ack`, a field of the wrong JSON type is a syntax error, and a lone surrogate in the text becomes U+FFFD. Any
 * frame Texto could not parse (bad JSON, a bad UUID, an unknown kind, a wrong data shape) is `ESYNTAX` with a new
 * random id; `ECID` (a send whose client_id is not the connection's) and `EKIND` (a client sending a server kind)
 * name the request's id.
 *
 * One instance per connection: `clientId` is the connection's current client id, which a send must present and
 * which every reply carries. `event` and `history` do not use it (the hub shares one event's text among the
 * members of a codec name, see hub/hub.ts): a receive's `client_id` is the row's recipient. `reset` and `authOk`
 * have no Texto frame: they return '' and the connection's sink drops empty frames (compat/texto/adapter.ts).
 */
import { randomUUID } from 'node:crypto';
import { MhError } from '../../errors.js';
import type { Ack, Codec, Intent } from '../../protocol/codec.js';
import type { Row } from '../../types.js';
import { readUuid } from './uuid.js';

/** Texto's error codes and descriptions (client.go), by the catalogued error that stands for each. */
const TEXTO_CODES: Readonly<Record<string, string>> = {
  MH_ERR_TEXTO_SYNTAX: 'ESYNTAX',
  MH_ERR_TEXTO_CLIENT_ID: 'ECID',
  MH_ERR_TEXTO_KIND: 'EKIND',
};

/** Failures to store a send: Texto's EBROKER ("could not publish"), with Texto's own description. */
const BROKER_FAILURES: ReadonlySet<string> = new Set(['MH_ERR_STORE_FAILED', 'MH_ERR_STORE_UNAVAILABLE', 'MH_ERR_OVERLOADED', 'MH_ERR_SHUTTING_DOWN', 'MH_ERR_INTERNAL']);
export const EBROKER_DESCRIPTION = 'Unable to send the message to the recipient.';

/** What a Texto frame asks of the adapter besides a message (the codec's `control` intents). */
export type TextoControl =
  /** A `registration`: answer `connection`; a client_id other than the current one re-presents that id. */
  | { kind: 'registration'; clientId: string }
  /** The client's `ack` of a `receive` (by the receive's id). */
  | { kind: 'ack'; id: string }
  /** An `error` from the client: Texto ignores it, so do we. */
  | { kind: 'ignore' };

/** The columns a Texto handler's table has (besides msghub's id, user, timestamp). */
export const TEXTO_COLUMNS = { sender_id: 'TEXT', recipient: 'TEXT', text: 'TEXT' } as const;

const SYNTAX: Intent = Object.freeze({ kind: 'invalid', error: new MhError('MH_ERR_TEXTO_SYNTAX'), ref: undefined }) as Intent;

/** Go's case-insensitive field lookup: the value of the last key that folds to `name` (undefined if none). */
function field(obj: Record<string, unknown>, name: string): unknown {
  let v: unknown;
  for (const k of Object.keys(obj)) if (k === name || (k.length === name.length && k.toLowerCase() === name)) v = obj[k];
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A Go `string` field: missing or null is '', any other non-string is a type error (null here). */
function goString(v: unknown): string | null {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v.toWellFormed() : null;
}

/** A receive frame for a stored row (or a live event's frame): the same text whoever receives it. */
function receiveFrame(row: Row): string {
  return JSON.stringify({ client_id: row.recipient ?? null, id: row.id ?? null, kind: 'receive', data: { sender_id: row.sender_id ?? null, text: row.text ?? '' } });
}

export class TextoCodec implements Codec {
  readonly name = 'texto';

  /** @param clientId the connection's current client id (canonical lowercase UUID) */
  constructor(public clientId: string) {}

  decode(text: string): Intent {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return SYNTAX;
    }
    if (!isObject(value)) return SYNTAX;
    const kind = field(value, 'kind') ?? '';
    if (typeof kind !== 'string') return SYNTAX;
    const clientId = readUuid(field(value, 'client_id'));
    const id = readUuid(field(value, 'id'));
    if (clientId === null || id === null) return SYNTAX;
    if (kind === 'registration') return { kind: 'control', control: { kind: 'registration', clientId } satisfies TextoControl, ref: id };
    if (kind === 'ack') return { kind: 'control', control: { kind: 'ack', id } satisfies TextoControl, ref: id };
    const data = field(value, 'data');
    // Texto decodes these kinds' data into a struct: absent or null leaves nothing to decode, a non-object fails.
    if (!isObject(data)) return SYNTAX;
    switch (kind) {
      case 'send': {
        const receiver = readUuid(field(data, 'receiver_id'));
        const body = goString(field(data, 'text'));
        if (receiver === null || body === null) return SYNTAX;
        if (clientId !== this.clientId) return { kind: 'invalid', error: new MhError('MH_ERR_TEXTO_CLIENT_ID'), ref: id };
        // Only these keys: the row id (a UUIDv4), user and timestamp are the server's (message_default).
        return { kind: 'message', msg: { _method: 'POST', sender_id: clientId, recipient: receiver, text: body }, ref: id };
      }
      case 'error':
        if (goString(field(data, 'code')) === null || goString(field(data, 'description')) === null) return SYNTAX;
        return { kind: 'control', control: { kind: 'ignore' } satisfies TextoControl, ref: id };
      case 'connection':
        if (readUuid(field(data, 'client_id')) === null) return SYNTAX;
        return { kind: 'invalid', error: new MhError('MH_ERR_TEXTO_KIND'), ref: id };
      case 'receive':
        if (readUuid(field(data, 'sender_id')) === null || goString(field(data, 'text')) === null) return SYNTAX;
        return { kind: 'invalid', error: new MhError('MH_ERR_TEXTO_KIND'), ref: id };
      default:
        return SYNTAX;
    }
  }

  event(frame: Row): string {
    return receiveFrame(frame);
  }

  history(row: Row): string {
    return receiveFrame(row);
  }

  /** The `connection` frame: the greeting (new id) or the answer to a registration (its id). */
  connection(id: string = randomUUID()): string {
    return JSON.stringify({ client_id: this.clientId, id, kind: 'connection', data: { client_id: this.clientId } });
  }

  ack({ ref }: Ack): string {
    return JSON.stringify({ client_id: this.clientId, id: typeof ref === 'string' ? ref : randomUUID(), kind: 'ack', data: null });
  }

  error(err: MhError, ref?: unknown): string {
    const texto = TEXTO_CODES[err.code];
    const broker = texto === undefined && BROKER_FAILURES.has(err.code);
    // ESYNTAX answers a frame Texto could not read: never its id. A refusal Texto has no code for keeps msghub's.
    const id = texto === 'ESYNTAX' || typeof ref !== 'string' ? randomUUID() : ref;
    const data = broker ? { code: 'EBROKER', description: EBROKER_DESCRIPTION } : { code: texto ?? err.code, description: err.message };
    return JSON.stringify({ client_id: this.clientId, id, kind: 'error', data });
  }

  reset(): string {
    return '';
  }

  authOk(): string {
    return '';
  }
}
