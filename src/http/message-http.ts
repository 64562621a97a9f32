/**
 * @module http/message-http
 * Plain HTTP on a MessageHandler's pattern, for backends that publish without a socket:
 *
 *   GET                      → the filtered history as a JSON array (same filter syntax as a subscription)
 *   POST | PUT | DELETE      → body: one JSON object or an array of them; each runs the same pipeline as a
 *                              WebSocket frame (defaults, prepare, ownership, modify, alert) with `_method`
 *                              taken from the HTTP method; answers with the committed message(s).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MhError, toMhError } from '../errors.js';
import type { ConnectionInfo, MessageHandler } from '../handler.js';
import type { ExprHandler } from '../pipeline/defaults.js';
import type { Args, Row } from '../types.js';
import { sendJson } from './respond.js';

/** Most messages one HTTP body may carry. */
const MAX_ITEMS = 1000;

export async function serveMessageHttp(
  handler: MessageHandler,
  req: IncomingMessage,
  res: ServerResponse,
  args: Args,
  info: () => Promise<ConnectionInfo>,
): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  try {
    if (method === 'GET' || method === 'HEAD') {
      sendJson(res, 200, await handler.read(args));
      return;
    }
    if (method !== 'POST' && method !== 'PUT' && method !== 'DELETE') {
      throw new MhError('MH_ERR_HTTP_METHOD', [method]);
    }
    const body = await readJson(req, handler.config.maxMessageBytes * 16);
    const items = Array.isArray(body) ? body : [body];
    if (items.length > MAX_ITEMS) throw new MhError('MH_ERR_HTTP_BODY', [`at most ${MAX_ITEMS} messages per request`]);
    const i = await info();
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
