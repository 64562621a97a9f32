/**
 * @module compat/x0/codec
 * The wire shapes of x0's micro-msg-server (Claus Prüfer's, as x0 deploys it: see docs/compat.md), and the
 * normalisation of every request body its clients send into one of three operations:
 *
 *   GET  {"type": "GET", "session_src": S, "SessionData": {"ID": …, "Value": S}}    a long poll for S's messages
 *   SET  {"type": "SET", "session_src": A, "session_dst": B, "payload": {…}}        a message from A to B
 *        {"RequestData": {"FormlistSelectDstUser": {"DstUserSession": B, …},
 *                         "FormlistExchangeData": {…}}, "SessionData": {"Value": A}}  (the example's form button)
 *   DEL  {"type": "DEL", "session_src": S}                                           the original server's delete:
 *                                                                                    here, an explicit acknowledgement
 *
 * Answers (always HTTP 200, as x0 answers): `{"messages": [...]}`, `{"messages": null}` (poll timeout),
 * `{"messages": null, "status": "ok"}` (SET, DEL) and `{"error": true, "exception_id": …, "exception": …}`.
 *
 * A stored message is three columns: `session_src`, `session_dst`, and `payload` (the sender's payload object as
 * compact JSON text, written only by `normalise` here). A delivered message is that payload with `session_src`
 * added, as x0's server adds it.
 */
import { MhError } from '../../errors.js';
import type { Codec, Intent } from '../../protocol/codec.js';
import type { Row } from '../../types.js';

/** The columns of an x0 table (besides msghub's `id`, `user`, `timestamp`). */
export const X0_COLUMNS = { session_src: 'TEXT', session_dst: 'TEXT', payload: 'TEXT' } as const;

/**
 * Longest session id accepted (x0's are 17 characters; tokens and UUIDs fit). A session is its durable key, and
 * `msghub_cursors.user_id` is VARCHAR(191): PostgreSQL and MySQL refuse a longer key, which made every poll of such
 * a session fail (MH_ERR_INTERNAL) and never acknowledge.
 */
export const MAX_SESSION_LENGTH = 191;

/** What a request asks for, after normalisation. */
export type X0Request =
  | { op: 'GET'; session: string }
  | { op: 'DEL'; session: string }
  | { op: 'SET'; src: string; dst: string; payload: Row };

/** Which operation the route already fixes (`<pattern>/get`, `/set`, `/del`), or null for the single endpoint. */
export type X0Route = 'GET' | 'SET' | 'DEL' | null;

const bad = (why: string): MhError => new MhError('MH_ERR_HTTP_BODY', [why]);

const isObject = (v: unknown): v is Row => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A session id: text of 1..256 characters with no control characters (x0 itself checks nothing). */
export function checkSession(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_SESSION_LENGTH) {
    throw bad(`${what} must be a session id (text of 1 to ${MAX_SESSION_LENGTH} characters)`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value) || !value.isWellFormed()) throw bad(`${what} must not hold control characters or lone surrogates`);
  return value;
}

/** The `Value` of the `SessionData` object x0's client merges into every POST body, if any. */
function sessionDataValue(body: Row): unknown {
  const sd = body.SessionData;
  return isObject(sd) ? sd.Value : undefined;
}

/**
 * The form-style body of x0's example ("Send Data"): the destination in
 * `RequestData.FormlistSelectDstUser.DstUserSession`, the data object in `RequestData.FormlistExchangeData`, the
 * sender in `SessionData.Value`. x0's MsgHandler rewrites exactly this shape, and uses the body unchanged when any
 * of the three is missing; so does this.
 */
function formStyle(body: Row): X0Request | null {
  const rd = body.RequestData;
  if (!isObject(rd)) return null;
  const select = rd.FormlistSelectDstUser;
  if (!isObject(select) || !Object.hasOwn(select, 'DstUserSession') || !Object.hasOwn(rd, 'FormlistExchangeData')) return null;
  const src = sessionDataValue(body);
  if (src === undefined) return null;
  return {
    op: 'SET',
    src: checkSession(src, 'SessionData.Value'),
    dst: checkSession(select.DstUserSession, 'RequestData.FormlistSelectDstUser.DstUserSession'),
    payload: { 'msg-type': 'net-message', 'method-id': 'set-data', 'dst-object': 'FormlistExchangeData', payload: rd.FormlistExchangeData },
  };
}

/**
 * Normalises a request (a parsed, already bounded and checked JSON body, or the query args of `GET <pattern>/get`)
 * into one operation. The sender is `session_src`, else `SessionData.Value` (x0 trusts either; the adapter binds
 * it to the logged-in user when `auth:` is set). Throws MH_ERR_HTTP_BODY for anything else.
 */
export function normalise(body: unknown, route: X0Route): X0Request {
  if (!isObject(body)) throw bad('the body must be a JSON object');
  if (route === null || route === 'SET') {
    const form = formStyle(body);
    if (form) return form;
  }
  let op: X0Route = route;
  if (op === null) {
    const type = body.type;
    if (typeof type !== 'string' || !/^(GET|SET|DEL)$/i.test(type)) throw bad('"type" must be "GET" or "SET"');
    op = type.toUpperCase() as 'GET' | 'SET' | 'DEL';
  }
  const src = body.session_src !== undefined ? body.session_src : sessionDataValue(body);
  const session = checkSession(src, 'session_src');
  if (op !== 'SET') return { op, session };
  const payload = body.payload;
  // x0's server adds `session_src` to the payload: it has to be an object.
  if (!isObject(payload)) throw bad('"payload" must be a JSON object');
  return { op, src: session, dst: checkSession(body.session_dst, 'session_dst'), payload };
}

/** The row a SET stores. */
export function storedRow(req: Extract<X0Request, { op: 'SET' }>): Row {
  return { session_src: req.src, session_dst: req.dst, payload: JSON.stringify(req.payload) };
}

/**
 * A stored message as x0 delivers it: the payload object with `session_src` set. Built as text: the payload column
 * holds compact JSON of an object (written by `storedRow`), so the key is appended without parsing (a payload that
 * already had `session_src` then has it twice, and the last one wins in every JSON parser, as x0 overwrites it).
 */
export function deliveredText(row: Row): string {
  const src = JSON.stringify(typeof row.session_src === 'string' ? row.session_src : null);
  const p = row.payload;
  if (typeof p === 'string' && p.length >= 2 && p.startsWith('{') && p.endsWith('}')) {
    return p === '{}' ? `{"session_src":${src}}` : `${p.slice(0, -1)},"session_src":${src}}`;
  }
  // Not written by this adapter (a row put there another way): parsed, and skipped if it is not an object.
  try {
    const v: unknown = typeof p === 'string' ? JSON.parse(p) : null;
    return JSON.stringify({ ...(isObject(v) ? v : { payload: v ?? null }), session_src: JSON.parse(src) as unknown });
  } catch {
    return `{"payload":null,"session_src":${src}}`;
  }
}

/** x0's error answer: `exception_id` is msghub's error code (x0 puts a Python exception class name there). */
export function errorBody(err: MhError): string {
  return JSON.stringify({ error: true, exception_id: err.code, exception: err.message });
}

/** Prefixes of the non-event frames the core may hand a poll's sink (told apart from events by `seq` 0 too). */
export const ERROR_PREFIX = '{"error":true';
export const RESET_PREFIX = '{"reset":';

/**
 * The Codec the core encodes x0 subscribers' frames with. x0 has no client frames on a socket (everything comes in
 * over HTTP, through `normalise` and `MessageHandler.submit`), so `decode` refuses all.
 */
export const x0Codec: Codec = {
  name: 'x0',
  decode(): Intent {
    return { kind: 'invalid', error: new MhError('MH_ERR_CONTROL_REFUSED', ['x0 clients send requests over HTTP']), ref: undefined };
  },
  event: (frame) => deliveredText(frame),
  history: (row) => deliveredText(row),
  ack: ({ seq, id }) => JSON.stringify({ messages: null, status: 'ok', id, seq }),
  error: (err) => errorBody(err),
  reset: (since, oldest, seq) => JSON.stringify({ reset: { since, oldest, seq } }),
  authOk: () => JSON.stringify({ messages: null, status: 'ok' }),
};
