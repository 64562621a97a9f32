/**
 * @module client
 * msghub's browser and Node client (docs/client.md): one subscription, with history, live events, sends that
 * are acknowledged, and reconnection that resumes where it stopped. No dependencies; imports nothing from the
 * server (the wire protocol is docs/protocol.md).
 *
 * Guarantees, and how:
 * - **Resume with no gap and no duplicate.** The highest `_seq` seen (history rows and live events, never an
 *   acknowledgement, which can overtake its event on a multi-node bus) is sent as `_since` on every reconnect; the
 *   server then sends exactly the events after it. A live event at or below it is dropped. `_reset` (the server
 *   cannot resume from there) is passed on as `reset`: the history that follows replaces the app's state.
 * - **Sends are idempotent.** Each carries a `_ref` of `idem:` + 128 random bits; the server stores each key once
 *   per user and answers a retry with the original acknowledgement (core/idempotency.ts). So a send whose answer
 *   was lost with the connection is simply sent again, with the same `_ref`, after the reconnect.
 * - **Ordered, bounded.** Sends go out in call order; at most `queueLimit` are unanswered at a time (beyond it,
 *   `send` rejects with MH_CLIENT_QUEUE_FULL), and at most 256 are on the wire unanswered (under the server's
 *   1000 frames allowed before a connection is live). Each promise settles exactly once.
 */

export type State = 'connecting' | 'open' | 'reconnecting' | 'closed';
export type Row = Record<string, unknown>;
export interface Ack {
  id: string;
  _seq: number | null;
}
export interface ServerError {
  code: string;
  message: string;
}
export interface ResetInfo {
  since: number;
  oldest: number;
  seq: number;
}
export interface HubEvents {
  history: Row;
  message: Row;
  reset: ResetInfo;
  error: ServerError;
  state: State;
}
export type HubEvent = { [K in keyof HubEvents]: { type: K; data: HubEvents[K] } }[keyof HubEvents];

/** The part of a WebSocket the client uses (the browser's, or `ws` in Node). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
/** The part of an EventSource the client uses. */
export interface EventSourceLike {
  onmessage: ((ev: { data: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  addEventListener(type: string, fn: (ev: { data: string }) => void): void;
  close(): void;
}
type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body: string }) => Promise<{ status: number; text(): Promise<string> }>;

export interface ConnectOptions {
  /** Filter query args (docs/filters.md): values a string or a list. `_since` is the client's to manage. */
  filter?: Record<string, string | readonly string[]>;
  /** A WebSocket implementation (Node 20: `ws`). Default: globalThis.WebSocket. */
  WebSocket?: new (url: string) => WebSocketLike;
  /** An EventSource implementation for the SSE transport. Default: globalThis.EventSource. */
  EventSource?: new (url: string) => EventSourceLike;
  /** fetch, for publishing over HTTP on the SSE transport. Default: globalThis.fetch. */
  fetch?: FetchLike;
  /** A JWT source: asked before each connection and before the token expires (then sent with `_auth`). */
  token?: () => string | null | undefined | Promise<string | null | undefined>;
  /** Jittered exponential backoff between reconnects, in ms. Default {minMs: 500, maxMs: 15000}. */
  reconnect?: { minMs?: number; maxMs?: number };
  /** Sends unanswered at a time (queued while disconnected, or on the wire). Default 1000. */
  queueLimit?: number;
  /** 'auto' (default) falls back to SSE + HTTP publish when a WebSocket cannot be opened. */
  transport?: 'websocket' | 'sse' | 'auto';
}

/** An Error with the catalogued code (`MH_ERR_…` from the server, `MH_CLIENT_…` from the client). */
export class HubError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HubError';
  }
}

interface Pending {
  ref: string;
  msg: Row;
  sent: boolean;
  resolve(ack: Ack): void;
  reject(err: HubError): void;
}

/** Sends on the wire unanswered, at most (under the server's 1000 early frames). */
const WINDOW = 256;
/** Close codes after which reconnecting cannot help. */
const FATAL = [4400, 4403];

const parse = (text: unknown): Row | null => {
  try {
    const v = JSON.parse(String(text)) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Row) : null;
  } catch {
    return null;
  }
};

/** 128 random bits, base64url: an idempotency key nobody can guess. */
function randomKey(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...b))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

/** Seconds-since-epoch `exp` of a JWT, or null. */
function tokenExpiry(token: string): number | null {
  try {
    const exp = (JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : null;
  } catch {
    return null;
  }
}

export class Hub {
  state: State = 'connecting';
  /** The highest `_seq` received: where a reconnect resumes. null before any. */
  lastSeq: number | null = null;
  private readonly listeners: Record<string, Set<(data: never) => void>> = {};
  /** Every unanswered send, in call order. */
  private readonly pending = new Map<string, Pending>();
  private onWire = 0;
  private ws: WebSocketLike | null = null;
  private es: EventSourceLike | null = null;
  private sse: boolean;
  /** The SSE transport publishes one request at a time, in order. */
  private posting = false;
  private attempt = 0;
  /** Whether a WebSocket ever opened: only one that never did makes 'auto' fall back to SSE. */
  private wsWorked = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private refresh: ReturnType<typeof setTimeout> | undefined;
  private currentToken: string | null = null;
  private authRefs = 0;
  /** The highest `_seq` acknowledged with `ack()`. */
  private acked: number | null = null;
  private readonly opts: ConnectOptions;

  constructor(
    private readonly url: string,
    options: ConnectOptions = {},
  ) {
    this.opts = options;
    this.sse = options.transport === 'sse';
    void this.open();
  }

  on<K extends keyof HubEvents>(type: K, fn: (data: HubEvents[K]) => void): () => void {
    (this.listeners[type] ??= new Set()).add(fn);
    return () => this.off(type, fn);
  }

  off<K extends keyof HubEvents>(type: K, fn: (data: HubEvents[K]) => void): void {
    this.listeners[type]?.delete(fn);
  }

  /**
   * Publishes `msg` (`_method` POST by default, or PUT / DELETE with `id`). Resolves with the server's
   * acknowledgement; rejects with a HubError: the server's catalogued refusal, MH_CLIENT_QUEUE_FULL, or
   * MH_CLIENT_CLOSED when `close()` came first.
   */
  send(msg: Row): Promise<Ack> {
    return new Promise((resolve, reject) => {
      if (this.state === 'closed') return reject(new HubError('MH_CLIENT_CLOSED', 'the client is closed'));
      if (this.pending.size >= (this.opts.queueLimit ?? 1000)) return reject(new HubError('MH_CLIENT_QUEUE_FULL', 'too many sends waiting for an answer'));
      const ref = `idem:${randomKey()}`;
      this.pending.set(ref, { ref, msg, sent: false, resolve, reject });
      this.pump();
    });
  }

  /**
   * On a `durable: true` handler with a signed-in user: tells the server that every event up to `seq` arrived, so
   * it is not sent again and the user's position (unread counts, the next connection's replay) moves there. Sent
   * now, or when the next WebSocket opens; acknowledgements are cumulative, so only the highest is kept. (SSE has
   * no way back: there the server's `ack_timeout` applies.)
   */
  ack(seq: number): void {
    if (!Number.isSafeInteger(seq) || seq <= (this.acked ?? 0)) return;
    this.acked = seq;
    this.sendAck();
  }

  private sendAck(): void {
    const ws = this.ws;
    if (this.acked !== null && ws && ws.readyState === 1) ws.send(`{"_ack":${this.acked}}`);
  }

  /** Ends the subscription; unanswered sends reject with MH_CLIENT_CLOSED. */
  close(): void {
    if (this.state === 'closed') return;
    this.setState('closed');
    clearTimeout(this.timer);
    clearTimeout(this.refresh);
    this.drop();
    const err = new HubError('MH_CLIENT_CLOSED', 'the client was closed');
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Every event, in order, as `{type, data}`, until the client is closed. Buffers what is not yet read. */
  [Symbol.asyncIterator](): AsyncIterator<HubEvent> {
    const buffer: HubEvent[] = [];
    let wake: (() => void) | null = null;
    const offs = (['history', 'message', 'reset', 'error', 'state'] as const).map((type) =>
      this.on(type, (data: unknown) => {
        buffer.push({ type, data } as HubEvent);
        wake?.();
      }),
    );
    const stop = (): IteratorResult<HubEvent> => {
      for (const off of offs) off();
      return { done: true, value: undefined };
    };
    return {
      next: async () => {
        while (!buffer.length) {
          if (this.state === 'closed') return stop();
          await new Promise<void>((r) => (wake = r));
          wake = null;
        }
        return { done: false, value: buffer.shift()! };
      },
      return: async () => stop(),
    };
  }

  private emit<K extends keyof HubEvents>(type: K, data: HubEvents[K]): void {
    for (const fn of [...(this.listeners[type] ?? [])]) {
      try {
        (fn as (d: HubEvents[K]) => void)(data);
      } catch (err) {
        // A listener's bug must not break the connection: report it where the platform reports unhandled errors.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }

  private setState(s: State): void {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
  }

  /** The URL of a connection: the filter, `_since`, the token; ws: or http: as the transport needs. */
  private address(token: string | null): string {
    const u = new URL(this.url, (globalThis as unknown as { location?: { href: string } }).location?.href);
    u.protocol = u.protocol.replace(this.sse ? /^ws/ : /^http/, this.sse ? 'http' : 'ws');
    for (const [k, v] of Object.entries(this.opts.filter ?? {})) for (const x of typeof v === 'string' ? [v] : v) u.searchParams.append(k, x);
    if (this.lastSeq !== null) u.searchParams.set('_since', String(this.lastSeq));
    if (token) u.searchParams.set('access_token', token);
    return u.href;
  }

  private async open(): Promise<void> {
    let token: string | null = null;
    try {
      token = (await this.opts.token?.()) ?? null;
    } catch (err) {
      this.emit('error', { code: 'MH_CLIENT_TOKEN', message: String(err) });
      return this.retry();
    }
    if (this.state === 'closed') return;
    this.currentToken = token;
    if (this.sse) return this.openSse(token);
    const WS = this.opts.WebSocket ?? (globalThis as unknown as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
    if (!WS) return this.fallback();
    let opened = false;
    let ws: WebSocketLike;
    try {
      ws = new WS(this.address(token));
    } catch {
      return this.fallback();
    }
    this.ws = ws;
    ws.onopen = () => {
      opened = this.wsWorked = true;
      this.attempt = 0;
      this.setState('open');
      this.scheduleRefresh(token);
      this.sendAck();
      this.pump();
    };
    ws.onmessage = (ev) => this.frame(parse(ev.data));
    ws.onerror = () => undefined;
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.lost();
      if (!opened && !this.wsWorked) return this.fallback();
      if (FATAL.includes(ev.code)) return this.fail(ev.code, ev.reason);
      this.retry();
    };
  }

  /** The WebSocket could not be opened: with transport 'auto', SSE from now on. */
  private fallback(): void {
    if (this.opts.transport === 'auto' || this.opts.transport === undefined) {
      const ES = this.opts.EventSource ?? (globalThis as unknown as { EventSource?: unknown }).EventSource;
      if (ES && !this.sse) {
        this.sse = true;
        return void this.open();
      }
    }
    this.retry();
  }

  private openSse(token: string | null): void {
    const ES = this.opts.EventSource ?? (globalThis as unknown as { EventSource?: new (url: string) => EventSourceLike }).EventSource;
    if (!ES) return this.fail(0, 'no EventSource');
    const es = new ES(this.address(token));
    this.es = es;
    let opened = false;
    const end = (code: number, reason: string): void => {
      if (this.es !== es) return;
      es.close();
      this.es = null;
      this.lost();
      if (FATAL.includes(code)) return this.fail(code, reason);
      this.retry();
    };
    es.onmessage = (ev) => {
      if (!opened) {
        opened = true;
        this.attempt = 0;
        this.setState('open');
        this.pump();
      }
      this.frame(parse(ev.data));
    };
    // The stream's own open comes before history; the first frame stands for it (an empty table sends none, so
    // sends also go out once the stream answered: see pump, which does not wait for SSE to be "open").
    es.addEventListener('open', () => {
      if (opened) return;
      opened = true;
      this.attempt = 0;
      this.setState('open');
      this.pump();
    });
    // EventSource would reconnect by itself, without a fresh token or our backoff: the client does it instead.
    es.addEventListener('close', (ev) => {
      const c = parse(ev.data);
      end(Number(c?.code ?? 1000), String(c?.reason ?? ''));
    });
    es.onerror = () => end(1006, '');
  }

  /** The connection went away: whatever was on the wire unanswered is sent again on the next one. */
  private lost(): void {
    clearTimeout(this.refresh);
    for (const p of this.pending.values()) p.sent = false;
    this.onWire = 0;
  }

  private drop(): void {
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000);
    this.es?.close();
    this.es = null;
  }

  /** A close the client cannot recover from (a bad filter, forbidden): everything ends. */
  private fail(code: number, reason: string): void {
    this.emit('error', { code: `MH_CLIENT_CLOSED_${code}`, message: reason || `closed with ${code}` });
    this.close();
  }

  /** Reconnects after a jittered exponential delay: a random time in [d/2, d], d doubling up to maxMs. */
  private retry(): void {
    if (this.state === 'closed') return;
    this.setState('reconnecting');
    const { minMs = 500, maxMs = 15_000 } = this.opts.reconnect ?? {};
    const d = Math.min(maxMs, minMs * 2 ** this.attempt++);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.open(), d / 2 + (Math.random() * d) / 2);
  }

  /** Sends what waits, in call order, while the wire has room. */
  private pump(): void {
    if (this.sse) return void this.post();
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return;
    for (const p of this.pending.values()) {
      if (this.onWire >= WINDOW) return;
      if (p.sent) continue;
      p.sent = true;
      this.onWire++;
      ws.send(JSON.stringify({ ...p.msg, _ref: p.ref }));
    }
  }

  /** SSE transport: publishes over HTTP, one request at a time, in call order, with the key as Idempotency-Key. */
  private async post(): Promise<void> {
    if (this.posting || this.state !== 'open') return;
    const p = [...this.pending.values()].find((x) => !x.sent);
    if (!p) return;
    const f = this.opts.fetch ?? (globalThis as unknown as { fetch?: FetchLike }).fetch!;
    this.posting = true;
    p.sent = true;
    const { _method = 'POST', ...body } = p.msg;
    const headers: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': p.ref.slice(5) };
    if (this.currentToken) headers.authorization = `Bearer ${this.currentToken}`;
    try {
      const res = await f(this.address(null).replace(/\?.*$/, ''), { method: String(_method).toUpperCase(), headers, body: JSON.stringify(body) });
      const answer = parse(await res.text());
      if (res.status < 300 && answer) this.settle(p.ref, { _ack: answer._seq, id: answer.id, _seq: answer._seq });
      else if (res.status >= 500 || !answer) p.sent = false;
      else this.settle(p.ref, { _error: answer._error });
    } catch {
      // No answer: the key makes sending it again safe.
      p.sent = false;
    }
    this.posting = false;
    if (!p.sent) return this.retryPost();
    void this.post();
  }

  private retryPost(): void {
    clearTimeout(this.timer);
    const { minMs = 500 } = this.opts.reconnect ?? {};
    this.timer = setTimeout(() => void this.post(), minMs);
  }

  /** One frame from the server. */
  private frame(f: Row | null): void {
    if (!f) return;
    const ref = f._ref;
    if (typeof ref === 'string' && (this.pending.has(ref) || ref.startsWith('auth:'))) return this.settle(ref, f);
    if (f._error) return this.emit('error', f._error as ServerError);
    // An answer to nothing pending (a send already settled): not an event.
    if ('_ack' in f || '_auth' in f) return;
    if (f._reset) {
      // History follows and replaces the app's state: the position restarts from it.
      this.lastSeq = null;
      return this.emit('reset', f._reset as ResetInfo);
    }
    const seq = typeof f._seq === 'number' ? f._seq : null;
    if (f._method) {
      // Already seen (the server never sends it twice; a stale frame from another node's bus could): dropped.
      if (seq !== null && this.lastSeq !== null && seq <= this.lastSeq) return;
      if (seq !== null) this.lastSeq = seq;
      return this.emit('message', f);
    }
    if (seq !== null) this.lastSeq = Math.max(this.lastSeq ?? 0, seq);
    this.emit('history', f);
  }

  /** The answer to a send (or to an `_auth` refresh). */
  private settle(ref: string, f: Row): void {
    if (ref.startsWith('auth:')) {
      if (f._error) this.emit('error', f._error as ServerError);
      return;
    }
    const p = this.pending.get(ref);
    if (!p) return;
    const err = f._error as ServerError | undefined;
    if (err?.code === 'MH_ERR_SHUTTING_DOWN') return; // sent again on the next connection
    this.pending.delete(ref);
    if (this.onWire > 0 && !this.sse) this.onWire--;
    if (err) p.reject(new HubError(err.code, err.message));
    else p.resolve({ id: f.id as string, _seq: (f._seq as number | null) ?? null });
    this.pump();
  }

  /** Sends a fresh token with `_auth` before this one expires (a fifth of its life before, at most a minute). */
  private scheduleRefresh(token: string | null): void {
    clearTimeout(this.refresh);
    const exp = token && this.opts.token ? tokenExpiry(token) : null;
    if (exp === null) return;
    const now = Date.now();
    const wait = Math.max(0, exp - now - Math.min(60_000, (exp - now) / 5));
    this.refresh = setTimeout(async () => {
      let next: string | null = null;
      try {
        next = (await this.opts.token!()) ?? null;
      } catch (err) {
        this.emit('error', { code: 'MH_CLIENT_TOKEN', message: String(err) });
      }
      const ws = this.ws;
      if (!next || !ws || ws.readyState !== 1) return;
      this.currentToken = next;
      ws.send(JSON.stringify({ _auth: next, _ref: `auth:${++this.authRefs}` }));
      this.scheduleRefresh(next);
    }, wait);
  }
}

/** Opens a subscription to a msghub url entry (`ws://host/chat`, or a path relative to the page). */
export function connect(url: string, options?: ConnectOptions): Hub {
  return new Hub(url, options);
}
