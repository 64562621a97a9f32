/**
 * @module http/message-http
 * Plain HTTP on a MessageHandler's pattern, for backends that publish without a socket:
 *
 *   GET                      → the filtered history as a JSON array (same filter syntax as a subscription),
 *                              streamed in pages as the client reads; at most `limits.max_reads_per_ip`
 *                              at a time per address
 *   GET + Accept: text/event-stream → Server-Sent Events: history (or events since Last-Event-ID / _since), then live
 *   GET ?_since=N[&_wait=S]  → long-polling: the matching events after N now, or the first ones within S seconds
 *   POST | PUT | DELETE      → body: one JSON object or an array of them; each runs the same pipeline as a
 *                              WebSocket frame (defaults, prepare, ownership, modify, alert) with `_method`
 *                              taken from the HTTP method; answers with the committed message(s). Each
 *                              message obeys `max_message_bytes` like a WebSocket frame (see body.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConnectionCounter } from '../auth/index.js';
import { MhError, catalog, toMhError } from '../errors.js';
import type { Admitted } from '../auth/gate.js';
import type { MessageHandler } from '../core/handler.js';
import { checkKey } from '../core/idempotency.js';
import type { ExprHandler } from '../pipeline/defaults.js';
import type { ConnectionInfo } from '../core/handler.js';
import type { Args, Row } from '../types.js';
import { CollectSocket } from '../transport/collect.js';
import { SseSocket } from '../transport/sse.js';
import { readMessages } from './body.js';
import { JsonArrayResponse } from './json-array.js';
import { retryAfter, sendError, sendJson, sendJsonText } from './respond.js';

/** Most messages one HTTP body may carry. */
const MAX_ITEMS = 1000;
/** An HTTP body may carry up to this many times `max_message_bytes` (in an array of messages). */
const BODY_MESSAGES = 16;

/** Long-poll: default and longest wait, in seconds; most events and bytes (of their JSON) in one answer. */
export const LONG_POLL = { wait: 10, maxWait: 60, maxEvents: 1000, maxBytes: 256 * 1024 } as const;

/** An HTTP read whose client takes nothing for this long (ms) is cut off, releasing its database snapshot. */
export const READ_STALL_MS = 30_000;

export interface MessageHttpOptions {
  sseKeepAliveMs: number;
}

export async function serveMessageHttp(
  handler: MessageHandler,
  req: IncomingMessage,
  res: ServerResponse,
  args: Args,
  admit: () => Promise<Admitted>,
  options: MessageHttpOptions,
): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  try {
    if (method === 'GET' || method === 'HEAD') {
      const { info, setCookie } = await admit();
      if (setCookie) res.setHeader('Set-Cookie', setCookie);
      if (method === 'GET' && /\btext\/event-stream\b/.test(req.headers.accept ?? '')) return await serveSse(handler, req, res, info, options);
      if (args._since) return await longPoll(handler, req, res, args, info);
      return await read(handler, res, info);
    }
    if (method !== 'POST' && method !== 'PUT' && method !== 'DELETE') {
      throw new MhError('MH_ERR_HTTP_METHOD', [method]);
    }
    const { info: i, setCookie } = await admit();
    if (setCookie) res.setHeader('Set-Cookie', setCookie);
    // Idempotent publish (docs/client.md): a retry with the same key gets the original answer, stored once. The
    // items of an array body are keyed `<key>.<index>`.
    const idemHeader = req.headers['idempotency-key'];
    const idemKey = typeof idemHeader === 'string' ? checkKey(idemHeader) : undefined;
    const max = handler.config.maxMessageBytes;
    // `DELETE /chat?id=…` without a body (what REST clients send) names its row in the query; with neither, the
    // answer is MH_ERR_MSG_MISSING_ID, which says what is missing, rather than "Unexpected end of JSON input".
    const empty = method === 'DELETE' ? (args.id?.length === 1 ? { id: args.id[0] } : {}) : undefined;
    const body = await readMessages(req, { maxBodyBytes: max * BODY_MESSAGES, maxMessageBytes: max, maxItems: MAX_ITEMS, empty });
    handler.policy.checkHttpRate(i.ip, body.items.length);
    const scope: ExprHandler = Object.freeze({
      name: handler.name,
      current_user: i.user,
      session: Object.freeze({ id: i.sessionId }),
      args: i.args,
      request: Object.freeze({ ip: i.ip, headers: Object.freeze({ ...i.headers }) }),
    });
    const results: (Row | { _error: unknown })[] = [];
    let firstError: MhError | null = null;
    // One after another, so the messages of one request commit in body order.
    for (const [n, item] of body.items.entries()) {
      if (item === null || typeof item !== 'object' || Array.isArray(item)) {
        const e = new MhError('MH_ERR_MSG_NOT_OBJECT', [Array.isArray(item) ? 'an array' : item === null ? 'null' : typeof item]);
        handler.stats.refuse(e.code);
        firstError ??= e;
        results.push({ _error: e.toJSON() });
        continue;
      }
      try {
        const key = idemKey === undefined ? undefined : body.array ? `${idemKey}.${n}` : idemKey;
        results.push(await handler.submit({ ...(item as Row), _method: method }, scope, body.bytes[n], key));
      } catch (err) {
        const e = toMhError(err);
        handler.stats.refuse(e.code);
        firstError ??= e;
        results.push({ _error: e.toJSON() });
      }
    }
    const ok = method === 'POST' ? 201 : 200;
    if (!body.array) {
      sendJson(res, firstError ? firstError.status : ok, results[0], retryAfter(firstError?.status ?? ok));
    } else {
      sendJson(res, firstError ? firstError.status : ok, results, retryAfter(firstError?.status ?? ok));
    }
  } catch (err) {
    const e = toMhError(err);
    if (res.headersSent) {
      // A read that failed mid-stream: its 200 is out, so cut the response short rather than end a valid array.
      res.destroy();
      // An unexpected failure goes on to the caller, which logs it.
      if (!(err instanceof MhError)) throw err;
      return;
    }
    handler.stats.refuse(e.code);
    sendError(res, e, e.code === 'MH_ERR_HTTP_METHOD' ? { Allow: 'GET, HEAD, POST, PUT, DELETE' } : {});
  }
}

/** Concurrent HTTP reads per handler, in total and per client address (`limits.max_reads_per_ip`). */
const readers = new WeakMap<MessageHandler, ConnectionCounter>();

/**
 * GET: the history, streamed as a JSON array while the client reads it. Reads from one address beyond the
 * cap are refused with 429 (each running read holds a database snapshot and a page of rows).
 */
async function read(handler: MessageHandler, res: ServerResponse, info: ConnectionInfo): Promise<void> {
  const limits = handler.config.limits;
  let counter = readers.get(handler);
  if (!counter) readers.set(handler, (counter = new ConnectionCounter(limits.max_connections, limits.max_reads_per_ip)));
  if (counter.acquire(info.ip)) {
    const mine = counter.count(info.ip);
    throw new MhError('MH_ERR_TOO_MANY_CONNECTIONS', [
      limits.max_reads_per_ip > 0 && mine >= limits.max_reads_per_ip
        ? `your address has ${mine} HTTP reads running; the limit is ${limits.max_reads_per_ip}`
        : `this endpoint allows ${limits.max_connections} HTTP reads at a time`,
    ]);
  }
  const socket = new JsonArrayResponse(res, { stallMs: READ_STALL_MS });
  try {
    await handler.read(info, socket);
    socket.end();
  } finally {
    counter.release(info.ip);
  }
}

/** Server-Sent Events: the same connection life as a WebSocket, one-way. */
async function serveSse(handler: MessageHandler, req: IncomingMessage, res: ServerResponse, i: ConnectionInfo, options: MessageHttpOptions): Promise<void> {
  const full = handler.policy.connections.acquire(i.ip);
  if (full) throw full;
  res.once('close', () => handler.policy.connections.release(i.ip));
  // A browser's EventSource reconnects by itself and sends the last id it saw.
  const last = req.headers['last-event-id'];
  if (typeof last === 'string' && last !== '' && !i.args._since) i.args = { ...i.args, _since: [last] };
  const socket = new SseSocket(res, { maxBufferedBytes: handler.config.maxBufferedBytes, keepAliveMs: options.sseKeepAliveMs, stats: handler.stats });
  const conn = await handler.open(socket, i);
  if (!conn) return;
  if (!socket.isOpen) return handler.disconnect(conn);
  res.on('close', () => handler.disconnect(conn));
}

/**
 * Long-polling: answers at once with the matching events after `_since` if there are any, else with the first
 * ones that arrive within `_wait` seconds, else with an empty list. The client then asks again with the last
 * `_seq` it received.
 */
async function longPoll(handler: MessageHandler, req: IncomingMessage, res: ServerResponse, args: Args, info: ConnectionInfo): Promise<void> {
  const waitArg = args._wait?.at(-1);
  if (waitArg !== undefined && !/^\d+(\.\d+)?$/.test(waitArg)) throw new MhError('MH_ERR_FILTER_VALUE', ['_wait', `${JSON.stringify(waitArg)} is not a number of seconds`]);
  const wait = Math.min(waitArg === undefined ? LONG_POLL.wait : Number(waitArg), LONG_POLL.maxWait);
  const full = handler.policy.connections.acquire(info.ip);
  if (full) throw full;
  const socket = new CollectSocket(LONG_POLL.maxEvents, LONG_POLL.maxBytes);
  let conn: Awaited<ReturnType<MessageHandler['open']>>;
  try {
    conn = await handler.open(socket, info);
  } catch (err) {
    handler.policy.connections.release(info.ip);
    throw err;
  }
  let answered = false;
  const answer = (): void => {
    if (answered) return;
    answered = true;
    handler.policy.connections.release(info.ip);
    clearTimeout(timer);
    socket.onFrame = null;
    if (conn) handler.disconnect(conn);
    if (res.writableEnded) return;
    const error = socket.frames.find((p) => p.text.startsWith('{"_error"'));
    if (error) {
      const e = JSON.parse(error.text) as { _error: { code: keyof typeof catalog; message: string } };
      sendJson(res, catalog[e._error.code]?.status ?? 400, e);
      return;
    }
    // The frames are JSON already: joined, not parsed and serialized again.
    sendJsonText(res, 200, `[${socket.frames.map((p) => p.text).join(',')}]`);
  };
  let timer: NodeJS.Timeout | undefined;
  if (!conn || socket.frames.length > 0) return answer();
  // Nothing yet: wait for the first live frame, then answer on the next turn so a burst goes out together.
  timer = setTimeout(answer, wait * 1000);
  socket.onFrame = () => {
    socket.onFrame = null;
    setImmediate(answer);
  };
  req.on('close', () => {
    if (!res.writableEnded) answer();
  });
}
