/**
 * @module compat/x0/adapter
 * `handler: X0MessageHandler`: x0's micro-msg-server protocol (docs/compat.md) on a MessageHandler.
 *
 *   url:
 *     x0-messages:
 *       pattern: /python/MsgHandler.py(/.*)?     # x0's client URL; also /python/MsgHandler.py/get and /set
 *       handler: X0MessageHandler
 *       kwargs:
 *         url: sqlite:///$YAMLPATH/x0.db
 *         table: x0_messages
 *         poll_timeout: 10                      # seconds a poll waits (fractions allowed)
 *         cors: true                            # Access-Control-Allow-Origin: * (or a list of origins)
 *
 * Routes under the pattern: `POST <pattern>` with `{"type": "GET"|"SET"|"DEL", …}` or the example's form body
 * (x0's real single endpoint; any other method gets 200 and an empty body, as x0's WSGI script answers), the
 * documented `POST <pattern>/set` and `POST|GET <pattern>/get` (GET takes `?session_src=`), `POST <pattern>/del`,
 * and `OPTIONS` anywhere (the CORS preflight). Every answer is HTTP 200 with x0's JSON shapes.
 *
 * A SET is one message through `handler.submit` (the one intake: limits, hooks, alert, commit, bus); a poll is a
 * one-way durable subscriber (compat/x0/poll.ts). The sender is the body's `session_src` (or `SessionData.Value`),
 * trusted as x0 trusts it; with `auth:` the session is the logged-in user's id instead, for polls and sends alike.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Adapter, AdapterHost, AdapterRoute, CompiledAdapter, MountedAdapter } from '../adapter.js';
import type { UrlEntry } from '../../config/load.js';
import { compileMessageHandler, type CompileContext } from '../../config/message-handler.js';
import { MhError, toMhError, type ConfigIssue } from '../../errors.js';
import { readMessages } from '../../http/body.js';
import type { ConnectionInfo } from '../../core/handler.js';
import { X0_COLUMNS, checkSession, errorBody, normalise, storedRow, type X0Route } from './codec.js';
import { X0Polls } from './poll.js';

export interface X0Options {
  /** How long a poll waits for a message, in ms (kwargs `poll_timeout`, seconds). */
  pollTimeoutMs: number;
  /** `cors`: null (no CORS headers), '*' (any origin), or the allowed origins. */
  cors: '*' | readonly string[] | null;
}

/** kwargs of X0MessageHandler: a MessageHandler's that apply, and its own. */
const KWARGS = new Set(['url', 'table', 'auth', 'limits', 'alert', 'retention', 'poll_timeout', 'cors']);
const PASSED_ON = ['url', 'table', 'auth', 'limits', 'alert', 'retention'] as const;

/** x0's nominal poll: 10 checks a second apart. */
const DEFAULT_POLL_TIMEOUT_S = 10;
const MAX_POLL_TIMEOUT_S = 300;
/**
 * The core's own redelivery timer resends unacknowledged events to an open durable subscriber; an x0 poll lives
 * at most `poll_timeout` and is acknowledged by the next poll, so that timer must never fire within one.
 */
const ACK_TIMEOUT_S = 3600;
/**
 * Rows a session's first poll may read back (the messages sent to it before it ever acknowledged anything);
 * an answer carries at most MAX_MESSAGES of them and the next poll continues from there.
 */
const HISTORY_LIMIT = 10_000;
const MAX_MESSAGES = 1000;
const MAX_ANSWER_BYTES = 1024 * 1024;
/** A refused poll is answered after this pause (at most the poll timeout): x0's client polls again at once. */
const REFUSED_POLL_PAUSE_MS = 1000;

const JSON_TYPE = 'application/json; charset=UTF-8';
/** A preflight may name these request headers: tokens only, bounded. */
const HEADER_LIST = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$/;

function compile(entry: UrlEntry, ctx: CompileContext): { compiled?: CompiledAdapter<X0Options>; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const base = `${entry.path}.kwargs`;
  const issue = (sub: string, message: string): void => void issues.push({ path: `${base}${sub}`, message, file: entry.file });
  const kw = entry.kwargs ?? {};
  for (const key of Object.keys(kw)) {
    if (!KWARGS.has(key)) issue(`.${key}`, `unknown X0MessageHandler key (known: ${[...KWARGS].join(', ')})`);
  }
  let pollTimeoutMs = DEFAULT_POLL_TIMEOUT_S * 1000;
  if (kw.poll_timeout !== undefined) {
    const t = kw.poll_timeout;
    if (typeof t !== 'number' || !(t > 0) || t > MAX_POLL_TIMEOUT_S) issue('.poll_timeout', `must be a number of seconds, more than 0 and at most ${MAX_POLL_TIMEOUT_S}`);
    else pollTimeoutMs = t * 1000;
  }
  let cors: X0Options['cors'] = null;
  const c = kw.cors;
  if (c === true) cors = '*';
  else if (Array.isArray(c) && c.length > 0 && c.every((o) => typeof o === 'string')) cors = c.includes('*') ? '*' : Object.freeze([...(c as string[])]);
  else if (c !== undefined && c !== false) issue('.cors', 'must be true, false or a list of origins (https://app.example.com)');

  // The MessageHandler this adapter's messages live in: fixed columns, durable positions per session.
  const mh: Record<string, unknown> = {
    columns: { ...X0_COLUMNS },
    durable: true,
    ack_timeout: ACK_TIMEOUT_S,
    history_limit: HISTORY_LIMIT,
    indexes: [['session_dst']],
  };
  for (const k of PASSED_ON) if (kw[k] !== undefined) mh[k] = kw[k];
  // Cross-origin requests CORS lets a browser make must also pass msghub's origin check (same-origin by default).
  if (cors === '*') mh.origins = '*';
  else if (cors) mh.origins = [...cors, 'self'];
  const r = compileMessageHandler({ ...entry, kwargs: mh }, ctx);
  for (const i of r.issues) issues.push(i.path.startsWith(`${base}.origins`) ? { ...i, path: `${base}.cors${i.path.slice(`${base}.origins`.length)}` } : i);
  if (issues.length || !r.config) return { issues };
  return { compiled: { config: r.config, options: { pollTimeoutMs, cors } }, issues };
}

/** The CORS headers of an answer to `req` (none when `cors` is off or the origin is not listed). */
function corsHeaders(cors: X0Options['cors'], req: IncomingMessage): Record<string, string> {
  if (!cors) return {};
  if (cors === '*') return { 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Headers': '*' };
  const origin = req.headers.origin;
  const h: Record<string, string> = { Vary: 'Origin' };
  if (typeof origin === 'string' && cors.includes(origin)) {
    h['Access-Control-Allow-Origin'] = origin;
    h['Access-Control-Allow-Headers'] = '*';
  }
  return h;
}

/** Which operation a path's last segment fixes: `…/get`, `…/set`, `…/del`; null for x0's single endpoint. */
function routeOf(pathname: string): X0Route {
  const m = /\/(get|set|del)\/?$/.exec(pathname);
  return m ? (m[1]!.toUpperCase() as X0Route) : null;
}

async function mount(host: AdapterHost, compiled: CompiledAdapter<X0Options>): Promise<MountedAdapter> {
  const { handler, log } = host;
  const { cors, pollTimeoutMs } = compiled.options;
  let closing = false;

  const answer = (req: IncomingMessage) => (res: ServerResponse, json: string): void => {
    if (res.headersSent || res.destroyed) return;
    const body = Buffer.from(json, 'utf8');
    res.writeHead(200, {
      'Content-Type': JSON_TYPE,
      'Content-Length': body.length,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      ...corsHeaders(cors, req),
    });
    res.end(body);
  };

  const polls = new X0Polls(handler, { timeoutMs: pollTimeoutMs, maxMessages: MAX_MESSAGES, maxBytes: MAX_ANSWER_BYTES }, (res, json) => answer(res.req)(res, json), log);
  /** Refused polls waiting out their pause (released at close). */
  const pauses = new Set<() => void>();

  /** The session a request acts as: the logged-in user's id when there is one, else what the client says. */
  const sessionOf = (info: ConnectionInfo, claimed: string): string => (info.user ? checkSession(info.user.id, 'the user id') : claimed);

  async function serve(req: IncomingMessage, res: ServerResponse, route: AdapterRoute): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const reply = answer(req);
    if (method === 'OPTIONS') {
      // The preflight x0's JSON content type and custom headers cause: 200, empty, as x0 answers it.
      const h = corsHeaders(cors, req);
      if (h['Access-Control-Allow-Origin']) {
        h['Access-Control-Allow-Methods'] = 'GET, POST, OPTIONS';
        const asked = req.headers['access-control-request-headers'];
        if (typeof asked === 'string' && asked.length <= 1000 && HEADER_LIST.test(asked.trim())) h['Access-Control-Allow-Headers'] = asked.trim();
        h['Access-Control-Max-Age'] = '600';
      }
      res.writeHead(200, { 'Content-Type': JSON_TYPE, 'Content-Length': 0, ...h });
      res.end();
      return;
    }
    const op = routeOf(route.pathname);
    const isPoll = op === 'GET' && method === 'GET';
    if (method !== 'POST' && !isPoll) {
      if (op === null) {
        // x0's WSGI script answers every method but POST with 200 and an empty body.
        res.writeHead(200, { 'Content-Type': JSON_TYPE, 'Content-Length': 0, ...corsHeaders(cors, req) });
        res.end();
        return;
      }
      return reply(res, errorBody(new MhError('MH_ERR_HTTP_METHOD', [`${method} (use POST)`])));
    }
    let polling = false;
    try {
      if (closing) throw new MhError('MH_ERR_SHUTTING_DOWN');
      const { info, setCookie } = await host.admit(req, route.args);
      if (setCookie) res.setHeader('Set-Cookie', setCookie);
      let body: unknown;
      let bytes = 0;
      if (isPoll) {
        body = { session_src: route.args.session_src?.at(-1) };
      } else {
        const max = handler.config.maxMessageBytes;
        const read = await readMessages(req, { maxBodyBytes: max, maxMessageBytes: max, maxItems: 1 });
        if (read.array) throw new MhError('MH_ERR_HTTP_BODY', ['the body must be a JSON object, not an array']);
        body = read.items[0];
        bytes = read.bytes[0] ?? 0;
      }
      polling = op === 'GET' || (op === null && typeof (body as { type?: unknown } | null)?.type === 'string' && /^get$/i.test((body as { type: string }).type));
      const x = normalise(body, op);
      if (x.op === 'GET') return await polls.poll(res, sessionOf(info, x.session), info);
      if (x.op === 'DEL') {
        await polls.acknowledge(sessionOf(info, x.session));
        return reply(res, '{"messages":null,"status":"ok"}');
      }
      handler.policy.checkHttpRate(info.ip, 1);
      const row = storedRow({ ...x, src: sessionOf(info, x.src) });
      await handler.submit(row, handler.scopeFor(info, route.args), bytes);
      reply(res, '{"messages":null,"status":"ok"}');
    } catch (err) {
      const e = toMhError(err);
      handler.stats.refuse(e.code);
      if (e.code === 'MH_ERR_INTERNAL') log('error', `url:${handler.name}: x0 request failed`, err);
      const text = errorBody(e);
      if (!polling || closing) return reply(res, text);
      // x0's client polls again as soon as an answer comes: a refusal answered at once would make it spin.
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          pauses.delete(done);
          resolve();
        };
        const t = setTimeout(done, Math.min(REFUSED_POLL_PAUSE_MS, pollTimeoutMs));
        pauses.add(done);
      });
      reply(res, text);
    }
  }

  return {
    request: serve,
    async close() {
      closing = true;
      polls.close();
      for (const f of [...pauses]) f();
    },
  };
}

export const x0Adapter: Adapter<X0Options> = { handler: 'X0MessageHandler', compile, mount };
