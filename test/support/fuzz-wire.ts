/**
 * Clients and the oracle for the property-based attack test (test/e2e/fuzz.test.ts). The clients keep every
 * answer as raw text (a server that sent something that is not JSON is a finding, not a crash of the test)
 * and every wait is event driven with a timeout.
 */
import http from 'node:http';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { CloseCode, catalog } from '../../src/errors.js';

export const WAIT_MS = 5000;

// ── HTTP ──

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** One request with a raw path and body (fetch would normalise both); rejects after `timeoutMs`. */
export function request(base: string, method: string, path: string, opts: { headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number } = {}): Promise<HttpAnswer> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    // An explicit length: Node sends a DELETE body without one (no chunked encoding), and the server would
    // read the body as the next request.
    const headers = opts.body === undefined ? opts.headers : { ...opts.headers, 'content-length': String(Buffer.byteLength(opts.body)) };
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs ?? WAIT_MS, () => req.destroy(new Error(`${method} ${path.slice(0, 200)}: no answer within ${opts.timeoutMs ?? WAIT_MS} ms`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

// ── Server-Sent Events ──

/** An event stream read as raw blocks; `closeEvent` is the data of an `event: close`, if one came. */
export class RawSse {
  status = 0;
  errorBody = '';
  readonly data: string[] = [];
  closeEvent: string | null = null;
  ended = false;
  private req: http.ClientRequest | null = null;
  private waiters: (() => void)[] = [];

  /** Resolves once the status is known (for a refusal, once its body has been read). */
  static open(base: string, path: string): Promise<RawSse> {
    const s = new RawSse();
    const u = new URL(base);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`SSE ${path.slice(0, 200)}: no answer within ${WAIT_MS} ms`)), WAIT_MS);
      s.req = http.get({ host: u.hostname, port: u.port, path, headers: { accept: 'text/event-stream' }, agent: false }, (res) => {
        s.status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        let buf = '';
        res.on('data', (chunk: string) => {
          if (s.status !== 200) {
            s.errorBody += chunk;
            return;
          }
          buf += chunk;
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            s.block(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
          s.wake();
        });
        const end = (): void => {
          s.ended = true;
          s.wake();
          clearTimeout(timer);
          resolve(s);
        };
        res.on('end', end);
        res.on('close', end);
        if (s.status === 200) {
          clearTimeout(timer);
          resolve(s);
        }
      });
      s.req.on('error', (err) => {
        clearTimeout(timer);
        if (s.status) {
          s.ended = true;
          s.wake();
        } else reject(err);
      });
    });
  }

  until(pred: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`SSE: timed out waiting for ${what}; got ${JSON.stringify(this.data).slice(0, 500)}`)), timeoutMs);
      const check = (): void => {
        if (pred()) {
          clearTimeout(timer);
          resolve();
        } else if (this.ended) {
          clearTimeout(timer);
          reject(new Error(`SSE: stream ended before ${what}; got ${JSON.stringify(this.data).slice(0, 500)}`));
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  close(): void {
    this.req?.destroy();
  }

  private block(block: string): void {
    let event = '';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (!data.length) return;
    if (event === 'close') this.closeEvent = data.join('\n');
    else this.data.push(data.join('\n'));
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

// ── WebSocket ──

export type Handshake = { ok: true; ws: RawWs } | { ok: false; status: number; body: string };

/** A WebSocket that keeps its frames as text and can send any text or bytes. */
export class RawWs {
  readonly texts: string[] = [];
  closeCode: number | null = null;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d: Buffer) => {
      this.texts.push(d.toString('utf8'));
      this.wake();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      this.wake();
    });
    ws.on('error', () => this.wake());
  }

  /** Opens, or reports the refused handshake's status and body. */
  static open(url: string): Promise<Handshake> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { handshakeTimeout: WAIT_MS });
      const raw = new RawWs(ws);
      ws.once('open', () => resolve({ ok: true, ws: raw }));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ ok: false, status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      });
      ws.once('error', (e) => (/Unexpected server response/.test(e.message) ? undefined : reject(e)));
    });
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  /** Waits until `pred` holds or the socket closes (then resolves too: the caller looks at `closeCode`). */
  until(pred: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
    if (pred() || this.closeCode !== null) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`WebSocket: timed out waiting for ${what}; got ${JSON.stringify(this.texts).slice(0, 500)}`)), timeoutMs);
      const check = (): void => {
        if (pred() || this.closeCode !== null) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  async close(): Promise<void> {
    if (this.closeCode !== null) return;
    this.ws.close();
    await this.until(() => false, 'close').catch(() => this.ws.terminate());
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

// ── the oracle: each returns a list of problems, empty when the answer is one the protocol allows ──

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Codes that mean the server failed, not the client: hostile input must never cause one. */
const SERVER_FAULTS = new Set(['MH_ERR_INTERNAL', 'MH_ERR_STORE_FAILED']);
const CLOSE_CODES = new Set<number>([...Object.values(CloseCode), 1005]);

export function parse(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** `{_error: {code, message}}` with a catalogued code (and, over HTTP, that code's status). */
export function errorProblems(value: unknown, status?: number): string[] {
  if (!isObj(value) || !isObj(value._error)) return [`not an {_error} object: ${JSON.stringify(value)?.slice(0, 200)}`];
  const { code, message } = value._error;
  if (typeof code !== 'string' || !Object.hasOwn(catalog, code)) return [`uncatalogued error code ${JSON.stringify(code)}`];
  const out: string[] = [];
  if (typeof message !== 'string') out.push(`${code}: message is not a string`);
  if (SERVER_FAULTS.has(code)) out.push(`${code}: hostile input caused a server error (${String(message)})`);
  if (status !== undefined && catalog[code as keyof typeof catalog].status !== status) out.push(`${code} answered with HTTP ${status}, catalogued as ${catalog[code as keyof typeof catalog].status}`);
  return out;
}

/** What no frame the server relays may hold: a `__proto__` key (at any depth) or a lone surrogate. */
function hygieneProblems(v: unknown, at = '', depth = 0): string[] {
  if (typeof v === 'string') return v.isWellFormed() ? [] : [`lone surrogate relayed at ${at || 'top'}`];
  if (v === null || typeof v !== 'object' || depth > 64) return [];
  const out: string[] = [];
  for (const k of Object.keys(v)) {
    if (k === '__proto__') out.push(`__proto__ key relayed at ${at || 'top'}`);
    if (!k.isWellFormed()) out.push(`lone surrogate in a relayed key at ${at || 'top'}`);
    out.push(...hygieneProblems((v as Obj)[k], `${at}.${k}`, depth + 1));
  }
  return out;
}

/** Server-only keys a relayed message may not carry (a client could forge them). */
const FORGEABLE = ['_error', '_reset', '_ack', '_auth'];

export type FrameKind = 'error' | 'ack' | 'auth' | 'event' | 'history' | 'reset';

/**
 * Classifies one frame the server sent and lists what is wrong with it. `pinned` (for a handler whose `open`
 * pins `recipient`) says whether an event or row may reach this subscriber.
 */
export function frameProblems(text: string, pinned?: (f: Obj) => string | null): { kind: FrameKind | null; value: unknown; problems: string[] } {
  const p = parse(text);
  if (!p.ok) return { kind: null, value: undefined, problems: [`frame is not JSON: ${text.slice(0, 200)}`] };
  const f = p.value;
  if (!isObj(f)) return { kind: null, value: f, problems: [`frame is not an object: ${text.slice(0, 200)}`] };
  if (Object.hasOwn(f, '_error')) return { kind: 'error', value: f, problems: errorProblems(f) };
  if (Object.hasOwn(f, '_reset')) return { kind: 'reset', value: f, problems: isObj(f._reset) ? [] : ['_reset is not an object'] };
  if (Object.hasOwn(f, '_ack') && !Object.hasOwn(f, '_method')) return { kind: 'ack', value: f, problems: [] };
  if (f._auth === 'ok') return { kind: 'auth', value: f, problems: [] };
  const problems = hygieneProblems(f);
  for (const k of FORGEABLE) if (Object.hasOwn(f, k)) problems.push(`relayed a client's ${k} key`);
  const kind: FrameKind = Object.hasOwn(f, '_method') ? 'event' : 'history';
  if (kind === 'event' && !['POST', 'PUT', 'DELETE'].includes(f._method as string)) problems.push(`event with _method ${JSON.stringify(f._method)}`);
  if (kind === 'history' && typeof f._seq !== 'number') problems.push(`history row without a numeric _seq: ${text.slice(0, 200)}`);
  const leak = pinned?.(f);
  if (leak) problems.push(leak);
  return { kind, value: f, problems };
}

/** A close code the protocol documents. */
export function closeProblems(code: number | null): string[] {
  return code === null || CLOSE_CODES.has(code) ? [] : [`closed with undocumented code ${code}`];
}

// ── the database ──

/**
 * Every table, every row, in a stable order: "unchanged" means this string is the same. Also the ids that ever
 * had `recipient = 'fuzz'` in `pinTable` (now, or in the event record), which the pinned handler may show.
 */
export function dump(file: string, pinTable?: string): { text: string; pinnedIds: Set<string> } {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name").all() as { name: string }[]).map((t) => t.name);
    const text = JSON.stringify(tables.map((t) => [t, db.prepare(`SELECT * FROM "${t}" ORDER BY rowid`).all()]));
    const pinnedIds = new Set<string>();
    if (pinTable) {
      for (const r of db.prepare(`SELECT id FROM "${pinTable}" WHERE recipient = 'fuzz'`).all() as { id: string }[]) pinnedIds.add(r.id);
      if (tables.includes('msghub_events')) {
        const rows = db.prepare(`SELECT id FROM msghub_events WHERE tbl = ? AND data LIKE '%"recipient":"fuzz"%'`).all(pinTable) as { id: string }[];
        for (const r of rows) pinnedIds.add(r.id);
      }
    }
    return { text, pinnedIds };
  } finally {
    db.close();
  }
}
