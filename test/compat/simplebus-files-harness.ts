/**
 * What a SimpleBus file sender does (Python `requests.post(url, data={'data': json}, files={name: f})`, as in
 * SimpleBus's release examples): a streamed multipart/form-data body whose file parts are named by their form
 * field (the display name), over a real socket; and a downloader that can cut a transfer and resume it.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { basic } from './simplebus-harness.js';

export interface FilePart {
  /** The form field name: SimpleBus's display name (raw: a test may put anything in it). */
  field: string;
  /** The file's bytes, or a generator of them (never held whole). */
  body: Buffer | (() => AsyncIterable<Buffer>);
}

/** A body of `size` bytes, deterministic from `seed`, made in 64 KiB chunks (never in memory whole). */
export function generated(size: number, seed = 1): () => AsyncIterable<Buffer> {
  return async function* () {
    const block = Buffer.alloc(64 * 1024);
    let sent = 0;
    let n = 0;
    while (sent < size) {
      // A cheap pattern that differs per block, so a misplaced range shows up.
      block.fill((seed * 31 + n++) & 0xff);
      block.writeUInt32BE(n, 0);
      const len = Math.min(block.length, size - sent);
      sent += len;
      yield Buffer.from(block.subarray(0, len));
    }
  };
}

/** sha256 of a generated body (streamed). */
export async function digestOf(gen: () => AsyncIterable<Buffer>): Promise<string> {
  const h = createHash('sha256');
  for await (const c of gen()) h.update(c);
  return h.digest('hex');
}

/** A streamed multipart body: the `data` field (unless null), then the files. */
export function multipart(data: unknown, files: FilePart[], opts: { dataLast?: boolean } = {}): { type: string; body: Readable } {
  const boundary = `----sbtest${randomBytes(8).toString('hex')}`;
  const field = (): Buffer =>
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="data"\r\n\r\n${typeof data === 'string' ? data : JSON.stringify(data)}\r\n`);
  async function* gen(): AsyncIterable<Buffer> {
    if (data !== null && !opts.dataLast) yield field();
    for (const f of files) {
      // requests writes the name as UTF-8 between quotes, escaping `"` and `\`.
      const name = f.field.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
      yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
      if (Buffer.isBuffer(f.body)) yield f.body;
      else for await (const c of f.body()) yield c;
      yield Buffer.from('\r\n');
    }
    if (data !== null && opts.dataLast) yield field();
    yield Buffer.from(`--${boundary}--\r\n`);
  }
  return { type: `multipart/form-data; boundary=${boundary}`, body: Readable.from(gen()) };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** `POST <base>/put` with `Message-Type: file` and a streamed multipart body; `written` counts what was sent. */
export function putFiles(
  base: string,
  user: [string, string],
  data: unknown,
  files: FilePart[],
  opts: { dataLast?: boolean; abortAfter?: number; timeoutMs?: number; type?: string } = {},
): Promise<Reply & { written: number }> {
  const { type, body } = multipart(data, files, opts);
  const url = new URL(`${base}/put`);
  // Keep-alive, as requests sends it: with `Connection: close` the server closes the connection once it has
  // answered a refusal, and a client still writing may see EPIPE before it reads the answer.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return new Promise<Reply & { written: number }>((resolve, reject) => {
    let written = 0;
    let answered = false;
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: { authorization: basic(...user), 'message-type': 'file', 'content-type': opts.type ?? type } },
      (res) => {
        // An answer before the body is all sent (a refusal) stops the sending: `written` says how far it got.
        answered = true;
        body.destroy();
        const sent = written;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          req.destroy();
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), written: sent });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error('upload timed out')));
    req.on('error', (err) => {
      if (answered) return;
      if (opts.abortAfter !== undefined && written >= opts.abortAfter) resolve({ status: 0, headers: {}, body: Buffer.alloc(0), written });
      else reject(err);
    });
    body.on('data', (c: Buffer) => {
      written += c.length;
      if (!req.write(c)) {
        body.pause();
        req.once('drain', () => body.resume());
      }
      if (opts.abortAfter !== undefined && written >= opts.abortAfter) {
        body.destroy();
        req.destroy();
        resolve({ status: 0, headers: {}, body: Buffer.alloc(0), written });
      }
    });
    body.on('end', () => req.end());
  }).finally(() => agent.destroy());
}

/** GET (or another method) on the bus with Basic auth; streams the body into `onData` when given. */
export function request(
  url: string,
  user: [string, string] | null,
  opts: { method?: string; headers?: http.OutgoingHttpHeaders; onData?: (c: Buffer, req: http.ClientRequest) => void; timeoutMs?: number } = {},
): Promise<Reply> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { ...opts.headers };
    if (user) headers.authorization = basic(...user);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: opts.method ?? 'GET', agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => (opts.onData ? opts.onData(c, req) : chunks.push(c)));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      // A download we cut on purpose ends here.
      res.on('aborted', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

/** Waits until `pred` holds, checking every 20 ms, for at most `timeoutMs` (state the server changes on disk). */
export async function eventually(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
