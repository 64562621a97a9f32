/**
 * @module http/message-http
 * Plain HTTP on a MessageHandler's pattern, for backends that publish without a socket:
 *
 *   GET                      → the filtered history as a JSON array (same filter syntax as a subscription)
 *   GET + Accept: text/event-stream → Server-Sent Events: history (or events since Last-Event-ID / _since), then live
 *   GET ?_since=N[&_wait=S]  → long-polling: the matching events after N now, or the first ones within S seconds
 *   POST | PUT | DELETE      → body: one JSON object or an array of them; each runs the same pipeline as a
 *                              WebSocket frame (defaults, prepare, ownership, modify, alert) with `_method`
 *                              taken from the HTTP method; answers with the committed message(s).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MhError, catalog, toMhError } from '../errors.js';
import type { Admitted } from '../gate.js';
import type { MessageHandler } from '../handler.js';
import type { ExprHandler } from '../pipeline/defaults.js';
import type { ConnectionInfo } from '../handler.js';
import type { Args, Row } from '../types.js';
import { CollectSocket } from '../transport/collect.js';
import { SseSocket } from '../transport/sse.js';
import { sendJson } from './respond.js';

/** Most messages one HTTP body may carry. */
const MAX_ITEMS = 1000;

/** Long-poll: default and longest wait, in seconds; most events in one answer. */
export const LONG_POLL = { wait: 10, maxWait: 60, maxEvents: 1000 } as const;

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
      sendJson(res, 200, await handler.read(info));
      return;
    }
    if (method !== 'POST' && method !== 'PUT' && method !== 'DELETE') {
      throw new MhError('MH_ERR_HTTP_METHOD', [method]);
    }
    const { info: i, setCookie } = await admit();
    if (setCookie) res.setHeader('Set-Cookie', setCookie);
    const body = await readJson(req, handler.config.maxMessageBytes * 16);
    const items = Array.isArray(body) ? body : [body];
    if (items.length > MAX_ITEMS) throw new MhError('MH_ERR_HTTP_BODY', [`at most ${MAX_ITEMS} messages per request`]);
    handler.policy.checkHttpRate(i.ip, items.length);
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
    for (const item of items) {
      if (item === null || typeof item !== 'object' || Array.isArray(item)) {
        const e = new MhError('MH_ERR_MSG_NOT_OBJECT', [Array.isArray(item) ? 'an array' : item === null ? 'null' : typeof item]);
        firstError ??= e;
        results.push({ _error: e.toJSON() });
        continue;
      }
      try {
        results.push(await handler.submit({ ...(item as Row), _method: method }, scope));
      } catch (err) {
        const e = toMhError(err);
        firstError ??= e;
        results.push({ _error: e.toJSON() });
      }
    }
    const ok = method === 'POST' ? 201 : 200;
    if (!Array.isArray(body)) {
      sendJson(res, firstError ? firstError.status : ok, results[0]);
    } else {
      sendJson(res, firstError ? firstError.status : ok, results);
    }
  } catch (err) {
    const e = toMhError(err);
    sendJson(res, e.status, { _error: e.toJSON() }, e.code === 'MH_ERR_HTTP_METHOD' ? { Allow: 'GET, HEAD, POST, PUT, DELETE' } : {});
  }
}

/** Reads a JSON body of at most `limit` bytes. */
function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(new MhError('MH_ERR_MSG_TOO_LARGE', [size, limit]));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (failed) return;
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(new MhError('MH_ERR_MSG_NOT_JSON', [(err as Error).message]));
      }
    });
    req.on('error', reject);
  });
}

/** Server-Sent Events: the same connection life as a WebSocket, one-way. */
async function serveSse(handler: MessageHandler, req: IncomingMessage, res: ServerResponse, i: ConnectionInfo, options: MessageHttpOptions): Promise<void> {
  const full = handler.policy.connections.acquire(i.ip);
  if (full) throw full;
  res.once('close', () => handler.policy.connections.release(i.ip));
  // A browser's EventSource reconnects by itself and sends the last id it saw.
  const last = req.headers['last-event-id'];
  if (typeof last === 'string' && last !== '' && !i.args._since) i.args = { ...i.args, _since: [last] };
  const socket = new SseSocket(res, { maxBufferedBytes: handler.config.maxBufferedBytes, keepAliveMs: options.sseKeepAliveMs });
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
  const socket = new CollectSocket(LONG_POLL.maxEvents);
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
    sendJson(res, 200, socket.frames.map((p) => JSON.parse(p.text) as unknown));
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
