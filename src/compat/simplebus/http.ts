/**
 * @module compat/simplebus/http
 * SimpleBus's HTTP endpoints, under the entry's pattern (its last capture group is the sub-path, e.g.
 * `pattern: /bus/(.*)` serves `/bus/put`): `POST put_users`, `POST put` (`Message-Type: queue | direct | file`),
 * `GET|DELETE download/<name>` (files.ts), and the signup pages (signup.ts). Answers are SimpleBus's: 200 with
 * an empty body, or a status with its plain-text reason (`No Message-Type`, `NO UID IN MESSAGE`, …); a wrong
 * or missing Basic credential is 401 `Unauthorized Access` with `WWW-Authenticate: Basic`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MhError, toMhError } from '../../errors.js';
import type { AdapterHost, AdapterRoute } from '../adapter.js';
import { checkUntrusted } from '../../pipeline/untrusted.js';
import { parseWire } from './codec.js';
import * as files from './files.js';
import type { SimpleBusRuntime } from './runtime.js';
import { serveSignup } from './signup.js';
import { parseUsers } from './users.js';

/** Answers an MhError as SimpleBus does: its status and a plain-text body. */
export function answer(res: ServerResponse, err: MhError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
  if (err.code === 'MH_ERR_SIMPLEBUS_UNAUTHORIZED') headers['www-authenticate'] = 'Basic realm="Authentication Required"';
  if (err.status === 503) headers['retry-after'] = '1';
  res.writeHead(err.status, headers);
  res.end(err.message);
}

function ok(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': '0' });
  res.end();
}

/** The Basic credentials of a request, or null. */
export function basicCredentials(req: IncomingMessage): { user: string; password: string } | null {
  const h = req.headers.authorization;
  if (typeof h !== 'string' || h.length > 4096) return null;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h);
  if (!m) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = text.indexOf(':');
  return i < 0 ? null : { user: text.slice(0, i), password: text.slice(i + 1) };
}

/** Reads a request body of at most `max` bytes (413 beyond). */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      req.resume();
      return reject(new MhError('MH_ERR_MSG_TOO_LARGE', [declared, max]));
    }
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        reject(new MhError('MH_ERR_MSG_TOO_LARGE', [size, max]));
        return;
      }
      parts.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(parts)));
    req.once('error', () => reject(new MhError('MH_ERR_HTTP_BODY', ['the client hung up'])));
  });
}

/** Parses a JSON body (checked as every client value is). */
export function parseJson(body: Buffer): unknown {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', ['the body is not JSON']);
  }
  checkUntrusted(v);
  return v;
}

/** The sub-path of a routed request: the pattern's last capture group, without leading slashes. */
export function subPath(route: AdapterRoute): string {
  const g = route.groups.length ? route.groups[route.groups.length - 1]! : '';
  return (g ?? '').replace(/^\/+/, '');
}

export async function serveHttp(host: AdapterHost, bus: SimpleBusRuntime, req: IncomingMessage, res: ServerResponse, route: AdapterRoute): Promise<void> {
  const path = subPath(route);
  const method = req.method ?? 'GET';
  try {
    // Origins, per-address limits and the embedder's own checks still apply (a refusal is theirs to answer).
    const { info } = await host.admit(req, route.args);
    if (path === '' || path === 'signup' || path === 'login' || path === 'profile') return await serveSignup(bus, req, res, path, host.handler.config.maxMessageBytes);
    if (path === 'put_users' || path === 'put' || path.startsWith('download/')) {
      const user = await authenticate(bus, req, info.ip);
      if (path === 'put_users') {
        if (method !== 'POST') throw new MhError('MH_ERR_HTTP_METHOD', [method]);
        const list = parseUsers(parseJson(await readBody(req, host.handler.config.maxMessageBytes)));
        await bus.users.upsert(list);
        return ok(res);
      }
      if (path === 'put') {
        if (method !== 'POST') throw new MhError('MH_ERR_HTTP_METHOD', [method]);
        // Per-address message rate (limits:), as msghub's own HTTP publish: before the body is read.
        try {
          host.handler.policy.checkHttpRate(info.ip, 1);
        } catch (err) {
          req.resume();
          throw err;
        }
        return await put(bus, req, res, user, host.handler.config.maxMessageBytes, info.ip);
      }
      // The router has decoded the path once (a malformed escape never reaches here: such a path is not ours).
      const name = path.slice('download/'.length);
      if (method === 'GET' || method === 'HEAD') return await files.download(bus.files, req, res, user, name);
      if (method === 'DELETE') return await files.remove(bus.files, req, res, user, name);
      throw new MhError('MH_ERR_HTTP_METHOD', [method]);
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('Not Found');
  } catch (err) {
    const e = toMhError(err);
    if (e.code === 'MH_ERR_INTERNAL') host.log('error', `url:${host.handler.name}: SimpleBus request failed`, err);
    answer(res, e);
  }
}

async function authenticate(bus: SimpleBusRuntime, req: IncomingMessage, ip: string): Promise<string> {
  const cred = basicCredentials(req);
  let user;
  try {
    user = cred ? await bus.users.verify(cred.user, cred.password, ip) : null;
  } catch (err) {
    req.resume();
    throw err;
  }
  if (!user) {
    req.resume();
    throw new MhError('MH_ERR_SIMPLEBUS_UNAUTHORIZED');
  }
  return user.id;
}

/**
 * `POST /put`. `Message-Type` is required (SimpleBus: 400 `No Message-Type`); an empty value means `queue`, as
 * SimpleBus's documentation says (its code silently drops such a message); an unknown one is refused (its code
 * drops it too).
 */
async function put(bus: SimpleBusRuntime, req: IncomingMessage, res: ServerResponse, user: string, maxBytes: number, ip: string): Promise<void> {
  const header = req.headers['message-type'];
  if (header === undefined) {
    req.resume();
    throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', ['No Message-Type']);
  }
  const type = String(header).trim().toLowerCase() || 'queue';
  if (type === 'file') return files.upload(bus.files, req, res, user);
  if (type !== 'queue' && type !== 'direct') {
    req.resume();
    throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', [`Unknown Message-Type ${JSON.stringify(String(header)).slice(0, 60)}: use queue, direct or file`]);
  }
  const value = parseJson(await readBody(req, maxBytes));
  const m = parseWire(value);
  if (bus.options.uidRequired && (m.wire.uid === undefined || m.wire.uid === null)) throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', ['NO UID IN MESSAGE']);
  if (type === 'queue' && !m.direct) {
    await bus.submit(user, m);
    return ok(res);
  }
  // Direct: live only. The call returns once a recipient confirms it (on any node), or after the timeout. While
  // it waits it holds one of its address's connections (limits.max_connections_per_ip), as a long poll does:
  // taken before the message goes out, so a refused call sent nothing.
  const { connections } = bus.handler.policy;
  const full = connections.acquire(ip);
  if (full) throw full;
  try {
    const wait = bus.waitConfirmation(m.mid);
    let frame;
    try {
      frame = await bus.submitDirect(user, m);
    } catch (err) {
      wait.cancel();
      throw err;
    }
    if (!frame.recipients) {
      wait.cancel();
      return ok(res);
    }
    res.once('close', () => wait.cancel());
    if (await wait.done) return ok(res);
    if (!res.destroyed) throw new MhError('MH_ERR_SIMPLEBUS_NO_CONFIRMATION', [bus.options.directTimeoutMs / 1000]);
  } finally {
    connections.release(ip);
  }
}
