/**
 * @module compat/texto/adapter
 * `handler: TextoHandler`: Texto v1's WebSocket chat (kureuil/texto) on msghub, so Texto's clients (its
 * `public/texto.js`) work unchanged:
 *
 *   url:
 *     texto:
 *       pattern: /v1/texto
 *       handler: TextoHandler
 *       kwargs:
 *         url: sqlite:///$YAMLPATH/texto.db
 *         table: texto
 *         idle_timeout: 300          # seconds without a frame either way before the socket is dropped (Texto: 5 min)
 *
 * What it is made of: a MessageHandler with Texto's columns (`sender_id`, `recipient`, `text`), `durable: true`, and
 * a UUIDv4 as each row's id (the `receive` frame's id, so a redelivered receive carries the same id and the
 * client's ack of it finds its `_seq`). A `send` is a message through the one intake; the `ack` answers its commit.
 * Each connection is a subscriber with the filter `recipient = its client id` and that id (bound to the user when
 * there is one) as its durable key: the hub delivers, the bus carries it between nodes, the durable cursor remembers
 * what the client acknowledged.
 *
 * Improvements over Texto, in short (docs/compat.md § Texto v1 has them all): a message to a client that is offline
 * is kept, and delivered when the client comes back and re-presents its id with a `registration` frame whose
 * `client_id` is that id; a `receive` the client acknowledged is never sent again.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { refuseUpgrade } from '../../auth/gate.js';
import { compileMessageHandler, type CompileContext, type MessageHandlerConfig } from '../../config/message-handler.js';
import type { UrlEntry } from '../../config/load.js';
import type { ConnectionInfo, MessageHandler } from '../../core/handler.js';
import type { Session } from '../../core/session.js';
import type { Subscriber } from '../../core/subscriber.js';
import { MhError, type ConfigIssue } from '../../errors.js';
import { parseFilter } from '../../filter/index.js';
import type { Logger } from '../../log.js';
import type { Payload, Sink } from '../../transport/sink.js';
import type { WsSocket } from '../../transport/ws.js';
import type { User } from '../../types.js';
import type { Adapter, AdapterHost, CompiledAdapter, MountedAdapter } from '../adapter.js';
import { TEXTO_COLUMNS, TextoCodec, type TextoControl } from './codec.js';
import { NIL_UUID } from './uuid.js';

/** Texto's idle timeout (client.go: 5 minutes without a frame either way). */
export const DEFAULT_IDLE_TIMEOUT_S = 300;

/** Frames a client may send while its re-presented id is being checked; more closes it (MH_ERR_EARLY_FLOOD). */
const MAX_HELD_FRAMES = 1000;

export interface TextoOptions {
  /** Milliseconds without a frame either way before the socket is dropped (no close frame, as Texto). */
  idleTimeoutMs: number;
}

/** The MessageHandler kwargs a TextoHandler passes on as they are; the columns, `durable` and ids are its own. */
const PASSED_KWARGS = ['url', 'table', 'auth', 'origins', 'limits', 'alert', 'retention', 'history_limit', 'ack_timeout', 'max_message_bytes', 'max_buffered_bytes'];
const OWN_KWARGS = ['idle_timeout'];

function compile(entry: UrlEntry, ctx: CompileContext): { compiled?: CompiledAdapter<TextoOptions>; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const base = `${entry.path}.kwargs`;
  const kw = entry.kwargs ?? {};
  const mh: Record<string, unknown> = { columns: { ...TEXTO_COLUMNS }, durable: true, indexes: [['recipient']] };
  for (const key of Object.keys(kw)) {
    if (PASSED_KWARGS.includes(key)) mh[key] = kw[key];
    else if (!OWN_KWARGS.includes(key)) {
      issues.push({ path: `${base}.${key}`, message: `unknown TextoHandler key (known: ${[...PASSED_KWARGS, ...OWN_KWARGS].join(', ')})`, file: entry.file });
    }
  }
  let idleTimeoutMs = DEFAULT_IDLE_TIMEOUT_S * 1000;
  if (kw.idle_timeout !== undefined) {
    const v = kw.idle_timeout;
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) issues.push({ path: `${base}.idle_timeout`, message: 'must be a positive number of seconds', file: entry.file });
    else idleTimeoutMs = v * 1000;
  }
  // The synthetic MessageHandler entry has the same path: its issues already name the user's keys.
  const r = compileMessageHandler({ ...entry, kwargs: mh }, ctx);
  issues.push(...r.issues);
  if (issues.length || !r.config) return { issues };
  // Every row's id is a UUIDv4: it is the `receive` frame's id, as Texto's receives have (the 22-character msghub
  // id would be an ESYNTAX to a Texto client that sends it back in its ack).
  const config: MessageHandlerConfig = { ...r.config, defaults: { ...r.config.defaults, POST: [{ key: 'id', expr: () => randomUUID() }] } };
  return { compiled: { config, options: { idleTimeoutMs } }, issues };
}

/**
 * The durable key of a client id: the id itself, or with a user the id bound to that user (a hash of the user id
 * keeps it within the cursor table's key length). A re-presented id is accepted only when its key has a cursor,
 * which the server writes when it issues the id: so with a user, only that user can claim it back.
 */
export function textoKey(clientId: string, user: User | null): string {
  if (!user) return clientId;
  return `${clientId}@${createHash('sha256').update(user.id).digest('base64url').slice(0, 22)}`;
}

interface MountContext {
  handler: MessageHandler;
  log: Logger;
  options: TextoOptions;
  /** Open connections, only to stop their idle timers at shutdown: delivery is the hub's, never a lookup here. */
  connections: Set<TextoConnection>;
}

/**
 * The connection's Sink as the core sees it: the socket's, plus the idle clock (Texto restarts it on every frame
 * either way) and the dropping of '' frames (a Codec frame Texto has no kind for, see codec.ts).
 */
class TextoSink implements Sink {
  constructor(
    readonly ws: WsSocket,
    private readonly conn: TextoConnection,
  ) {}
  send(payload: Payload): void {
    this.conn.last = Date.now();
    this.ws.send(payload);
  }
  sendText(text: string, seq: number): void {
    if (text === '') return;
    this.conn.last = Date.now();
    (this.ws as Sink).sendText(text, seq);
  }
  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }
  get isOpen(): boolean {
    return this.ws.isOpen;
  }
  get backlogged(): boolean {
    return this.ws.backlogged;
  }
  drained(): Promise<void> {
    return this.ws.drained();
  }
}

/**
 * One Texto WebSocket. It is attached at once, under a new client id, because Texto's own client never sends a
 * `registration`: it takes its id from the greeting and starts sending. A `registration` that presents another id
 * (one this server issued, to this user when there is one) then re-attaches the connection under that id: the old
 * subscription ends, and the new one replays what is stored for that id after its acknowledged position before
 * going live. Frames that arrive while the claim is checked wait here, in order.
 */
class TextoConnection {
  readonly sink: TextoSink;
  readonly codec: TextoCodec;
  /** When the last frame went either way (ms since epoch): the idle timer compares against it when it fires. */
  last = Date.now();
  private session: Session;
  private timer: NodeJS.Timeout | null = null;
  /** Frames (text, bytes) waiting for a re-presentation to finish; null when none is under way. */
  private held: (string | number)[] | null = null;
  private closed = false;

  constructor(
    private readonly ctx: MountContext,
    ws: WsSocket,
    private readonly info: ConnectionInfo,
    greet: boolean,
  ) {
    this.sink = new TextoSink(ws, this);
    const id = randomUUID();
    this.codec = new TextoCodec(id);
    // The greeting goes first: the subscription's own frames (none for a new id) can only follow it.
    if (greet) this.sink.sendText(this.codec.connection(), 0);
    const { handler } = ctx;
    // Nothing can be addressed to a new random id before this greeting tells it to anyone, so its position starts
    // at what this process knows is committed. The cursor is also the id's binding to the user (`textoKey`).
    // Not awaited: the client should not wait for it (a re-presentation in the few ms before it lands is refused).
    handler.store.setCursor(handler.name, textoKey(id, info.user), handler.store.lastSeq).catch((err) => ctx.log('warn', `url:${handler.name}: cannot record Texto client id`, err));
    this.session = this.attach(id);
    this.arm(ctx.options.idleTimeoutMs);
  }

  /** Subscribes this socket as client `id`: what is addressed to it, under its durable key. */
  private attach(id: string): Session {
    const { handler } = this.ctx;
    const filter = parseFilter({ recipient: [id] }, handler.config.columns, { maxConditions: handler.config.maxFilterArgs, maxNeedle: handler.config.maxFilterNeedle });
    return handler.attach(this.sink, this.info, {
      codec: this.codec,
      filter,
      key: textoKey(id, this.info.user),
      control: (s, control, ref) => this.control(s, control as TextoControl, ref as string),
    });
  }

  receive(text: string, bytes: number): void {
    this.last = Date.now();
    if (this.held === null) return this.session.receive(text, bytes);
    if (this.held.length < 2 * MAX_HELD_FRAMES) this.held.push(text, bytes);
    else {
      const e = new MhError('MH_ERR_EARLY_FLOOD', [MAX_HELD_FRAMES]);
      this.sink.sendText(this.codec.error(e), 0);
      this.sink.close(e.closeCode!, e.message);
    }
  }

  close(): void {
    this.closed = true;
    this.held = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.ctx.connections.delete(this);
    this.session.close();
  }

  /** Texto's idle timeout: after `ms` without a frame either way the TCP connection is dropped, no close frame. */
  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      if (this.closed) return;
      const left = this.last + this.ctx.options.idleTimeoutMs - Date.now();
      if (left > 0) return this.arm(left);
      this.timer = null;
      this.sink.ws.ws.terminate();
    }, ms);
    this.timer.unref();
  }

  /** The codec's control intents, in frame order (the core calls this; it must not throw). */
  private control(s: Subscriber, control: TextoControl, ref: string): void {
    if (control.kind === 'ack') return this.ack(s, control.id);
    if (control.kind === 'registration') return this.register(control.clientId, ref);
  }

  /**
   * The client's ack of a receive, by the receive's id: acknowledges that event's `_seq` (and, as every durable
   * acknowledgement, everything before it for this client). Texto's client acks every receive in order, so the
   * id is usually the first unacknowledged one; a receive sent as history (a client whose position fell out of the
   * event record) is not tracked there and is looked up in the table.
   */
  private ack(s: Subscriber, id: string): void {
    const needle = `"id":"${id}"`;
    for (const u of s.unacked) {
      if (u.payload.text.includes(needle)) return this.ctx.handler.acknowledge(s, u.payload.seq, undefined);
    }
    const { handler } = this.ctx;
    const filter = parseFilter({ id: [id], recipient: [this.codec.clientId] }, handler.config.columns);
    handler.store.history(filter, 1).then(
      (rows) => {
        const seq = Number(rows[0]?._seq);
        if (rows.length && Number.isSafeInteger(seq) && s.sink.isOpen && s.key !== null) handler.acknowledge(s, seq, undefined);
      },
      (err) => this.ctx.log('warn', `url:${handler.name}: a Texto ack could not be looked up`, err),
    );
  }

  /**
   * `registration`: Texto answers `connection` with the current id. A `client_id` that is neither the nil UUID nor
   * the current id re-presents that id: accepted when this server issued it (to this user, with a user), and the
   * answer then carries it; otherwise the answer is Texto's, with the current id.
   */
  private register(claimed: string, ref: string): void {
    if (claimed === NIL_UUID || claimed === this.codec.clientId) {
      this.sink.sendText(this.codec.connection(ref), 0);
      return;
    }
    const { handler } = this.ctx;
    this.held = [];
    handler.store.getCursor(handler.name, textoKey(claimed, this.info.user)).then(
      (cursor) => {
        if (this.closed) return;
        // Not an id this server issued (to this user): Texto's answer, the current id, which tells the client
        // (and tells someone guessing nothing more than that).
        if (cursor === null) this.sink.sendText(this.codec.connection(ref), 0);
        else {
          this.session.close();
          this.codec.clientId = claimed;
          this.session = this.attach(claimed);
          // Before the replay's first frame: the new subscription reads its position before it sends anything.
          this.sink.sendText(this.codec.connection(ref), 0);
        }
        this.release();
      },
      (err) => {
        if (this.closed) return;
        this.ctx.log('warn', `url:${handler.name}: cannot check a re-presented Texto client id`, err);
        this.sink.sendText(this.codec.error(new MhError('MH_ERR_STORE_UNAVAILABLE', ['the client id could not be checked']), ref), 0);
        this.release();
      },
    );
  }

  /**
   * Hands the frames held during a re-presentation to the (new) session, in order. A held `registration` starts
   * another re-presentation: the frames after it wait for that one.
   */
  private release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (let i = 0; i < held.length; i += 2) {
      if (this.held !== null) {
        (this.held as (string | number)[]).push(...held.slice(i));
        return;
      }
      this.session.receive(held[i] as string, held[i + 1] as number);
    }
  }

  /** Service shutdown: the handler closes the subscription (1001); only the idle timer is ours to stop. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** gorilla/websocket's answer to a request it cannot upgrade: the status text, and the version it speaks. */
function goHttpError(status: 400 | 405): string {
  const text = status === 400 ? 'Bad Request' : 'Method Not Allowed';
  const body = `${text}\n`;
  return `HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nSec-Websocket-Version: 13\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

function mount(host: AdapterHost, compiled: CompiledAdapter<TextoOptions>): MountedAdapter {
  const ctx: MountContext = { handler: host.handler, log: host.log, options: compiled.options, connections: new Set() };
  return {
    // A plain HTTP request to the WebSocket's path: Texto (gorilla/websocket) answers 400, as here.
    async request(_req: IncomingMessage, res: ServerResponse): Promise<void> {
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8', 'Sec-Websocket-Version': '13', 'X-Content-Type-Options': 'nosniff' });
      res.end('Bad Request\n');
    },
    upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, route): void {
      if (req.method !== 'GET') {
        socket.end(goHttpError(405));
        return;
      }
      // `?nogreet=<anything non-empty>` skips the greeting (Texto: for benchmarks); a bare `?nogreet` does not.
      const greet = !route.args.nogreet?.[0];
      host.admit(req, route.args).then(
        (admitted) =>
          host.upgrade(req, socket, head, admitted, (ws) => {
            const conn = new TextoConnection(ctx, ws, admitted.info, greet);
            ctx.connections.add(conn);
            return conn;
          }),
        (err) => refuseUpgrade(socket, err),
      );
    },
    async close(): Promise<void> {
      for (const conn of ctx.connections) conn.stop();
    },
  };
}

export const textoAdapter: Adapter<TextoOptions> = { handler: 'TextoHandler', compile, mount };
