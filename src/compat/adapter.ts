/**
 * @module compat/adapter
 * The seam for the protocols of older systems (x0, Texto, SimpleBus): an Adapter turns a `url:` entry with its own
 * `handler:` name into a MessageHandler config, and serves that entry's requests and sockets in its protocol, on
 * the MessageHandler the service built from that config. So an adapter's messages take the one intake, the group
 * commit, the bus, the hub and the durable positions like every other message: it brings a Codec, a filter given in
 * code, a subscriber key and its own routes, never its own queue, socket map or second predicate.
 *
 * Contract:
 * - `compile` is pure (no connections, no files written: it runs in `msghub check`), reports every problem with its
 *   YAML path, and returns a MessageHandler config (its table, columns, durable, limits…) or issues, never both.
 * - `mount` runs once the handler, its store and the bus exist (the table is created). What it returns serves the
 *   entry's requests (`request`) and WebSocket upgrades (`upgrade`): the service routes every request whose path
 *   matches the entry's `pattern` to it, and nothing else. Neither may throw or reject for a client's input:
 *   they answer it in the protocol's own shape (the service logs and answers 500 for what escapes).
 * - `close` runs before the handler closes: stop timers and release waiting requests; the handler then finishes
 *   accepted messages and closes its subscribers and the store.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Admitted } from '../auth/gate.js';
import type { UrlEntry } from '../config/load.js';
import type { CompileContext, MessageHandlerConfig } from '../config/message-handler.js';
import type { ConfigIssue } from '../errors.js';
import type { MessageHandler } from '../core/handler.js';
import type { Logger } from '../log.js';
import type { OpenConnection } from '../transport/ws-endpoint.js';
import type { Args } from '../types.js';

/** What `compile` made of a url entry. */
export interface CompiledAdapter<O = unknown> {
  /** The MessageHandler the adapter's messages live in. */
  config: MessageHandlerConfig;
  /** The adapter's own settings (e.g. `poll_timeout`), parsed and checked. */
  options: O;
}

/** A request or upgrade routed to an adapter: its path, args (null-prototype) and the pattern's capture groups. */
export interface AdapterRoute {
  pathname: string;
  args: Args;
  groups: string[];
}

/** What the service gives an adapter when it mounts it. */
export interface AdapterHost {
  entry: UrlEntry;
  handler: MessageHandler;
  log: Logger;
  /**
   * Who is connecting, as for a MessageHandler: origin, the embedder's `authenticate`, JWT, session cookie and the
   * handler's `auth:` rule. Rejects with the MhError that refuses the request.
   */
  admit(req: IncomingMessage, args: Args): Promise<Admitted>;
  /**
   * Completes a WebSocket handshake for `admitted` with the service's WebSocket endpoint for this handler (limits,
   * keep-alive pings, coalesced writes), taking the connection cap's place; `open` makes the connection for the
   * accepted socket. Refuses the upgrade with an HTTP status when the per-address cap is reached.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, admitted: Admitted, open: OpenConnection): void;
}

/** A mounted adapter: what serves its url entry. */
export interface MountedAdapter {
  request?(req: IncomingMessage, res: ServerResponse, route: AdapterRoute): Promise<void>;
  upgrade?(req: IncomingMessage, socket: Duplex, head: Buffer, route: AdapterRoute): void;
  close(): Promise<void>;
}

export interface Adapter<O = unknown> {
  /** The `handler:` name in gramex.yaml, e.g. `X0MessageHandler`. */
  readonly handler: string;
  compile(entry: UrlEntry, ctx: CompileContext): { compiled?: CompiledAdapter<O>; issues: ConfigIssue[] };
  mount(host: AdapterHost, compiled: CompiledAdapter<O>): MountedAdapter | Promise<MountedAdapter>;
}
