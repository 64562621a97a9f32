/**
 * FileHandler downloads resume (issue 19): `Range` → 206 with `Content-Range` and that part, `Accept-Ranges`,
 * `If-Range` (ETag or date), 416 past the end, HEAD, several ranges → the whole file; the FileHandler's own
 * rules (hidden names, the config's databases, 403 for `..`, index, custom headers) hold for ranged requests
 * too. Through a real service on loopback. And http/send-file's O_NOFOLLOW: a symlink handed to it is refused.
 */
import { mkdirSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendFile } from '../../src/http/send-file.js';
import { mount, type Mounted } from '../support/mounts.js';
import { tempDir, writeConfig } from '../support/tmp.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function request(base: string, rawPath: string, options: { method?: string; headers?: http.OutgoingHttpHeaders; cutAfter?: number } = {}): Promise<Reply> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: rawPath, agent: false, method: options.method, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      let got = 0;
      const done = (): void => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) });
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        got += c.length;
        if (options.cutAfter !== undefined && got >= options.cutAfter) {
          req.destroy();
          done();
        }
      });
      res.on('end', done);
      res.on('error', done);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`timeout: ${rawPath}`)));
    req.on('error', (err) => (options.cutAfter !== undefined ? undefined : reject(err)));
    req.end();
  });
}

const SIZE = 3 * 1024 * 1024 + 5;
const content = Buffer.alloc(SIZE);
for (let i = 0; i + 4 <= SIZE; i += 4) content.writeUInt32BE(i, i);

let dir: string;
let app: Mounted;

beforeAll(async () => {
  dir = realpathSync(tempDir('msghub-range-'));
  mkdirSync(path.join(dir, 'public', 'docs'), { recursive: true });
  writeFileSync(path.join(dir, 'public', 'big.bin'), content);
  writeFileSync(path.join(dir, 'public', 'notes.txt'), '0123456789abcdefghij');
  writeFileSync(path.join(dir, 'public', 'docs', 'index.html'), '<h1>docs index</h1>');
  writeFileSync(path.join(dir, 'public', '.env'), 'SECRET=1');
  writeFileSync(path.join(dir, 'public', '100% real.txt'), 'percent');
  writeFileSync(path.join(dir, 'secret.txt'), 'outside');
  symlinkSync(path.join(dir, 'secret.txt'), path.join(dir, 'public', 'link-out'));
  const config = writeConfig(
    `
url:
  chat:
    pattern: /chat
    handler: MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/public/chat.sqlite
      table: messages
      columns: {body: TEXT}
  static:
    pattern: /static/(.*)
    handler: FileHandler
    kwargs:
      path: $YAMLPATH/public
      ignore: []
  custom:
    pattern: /custom/(.*)
    handler: FileHandler
    kwargs:
      path: $YAMLPATH/public
      headers: {Cache-Control: 'max-age=60', Content-Type: text/x-custom}
`,
    dir,
  );
  app = await mount('http', config);
}, 30_000);

afterAll(async () => {
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('FileHandler Range', () => {
  it('Range: bytes=0-9 gets 206 and ten bytes (it used to get 200 and the whole file)', async () => {
    const r = await request(app.http, '/static/notes.txt', { headers: { range: 'bytes=0-9' } });
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe('bytes 0-9/20');
    expect(r.headers['content-length']).toBe('10');
    expect(r.headers['accept-ranges']).toBe('bytes');
    expect(r.body.toString()).toBe('0123456789');
    expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
  });

  it('open-ended, suffix and clamped ranges; several ranges get the whole file', async () => {
    expect((await request(app.http, '/static/notes.txt', { headers: { range: 'bytes=15-' } })).body.toString()).toBe('fghij');
    const suffix = await request(app.http, '/static/notes.txt', { headers: { range: 'bytes=-3' } });
    expect([suffix.status, suffix.headers['content-range'], suffix.body.toString()]).toEqual([206, 'bytes 17-19/20', 'hij']);
    const clamped = await request(app.http, '/static/notes.txt', { headers: { range: 'bytes=18-1000' } });
    expect([clamped.status, clamped.headers['content-range'], clamped.body.toString()]).toEqual([206, 'bytes 18-19/20', 'ij']);
    const multi = await request(app.http, '/static/notes.txt', { headers: { range: 'bytes=0-1,5-6' } });
    expect([multi.status, multi.body.toString()]).toEqual([200, '0123456789abcdefghij']);
    const junk = await request(app.http, '/static/notes.txt', { headers: { range: 'lines=1-2' } });
    expect([junk.status, junk.body.length]).toEqual([200, 20]);
  });

  it('a range past the end is 416 with the size', async () => {
    const r = await request(app.http, '/static/notes.txt', { headers: { range: 'bytes=20-' } });
    expect(r.status).toBe(416);
    expect(r.headers['content-range']).toBe('bytes */20');
    expect(r.body.toString()).toBe('Range Not Satisfiable');
  });

  it('If-Range: the current ETag or a later date gives the part; a stale one gives the whole file', async () => {
    const full = await request(app.http, '/static/notes.txt');
    const etag = full.headers.etag!;
    const lastModified = full.headers['last-modified']!;
    expect(etag).toMatch(/^W\/"[0-9a-f]+-[0-9a-f]+"$/);
    expect((await request(app.http, '/static/notes.txt', { headers: { range: 'bytes=10-', 'if-range': etag } })).status).toBe(206);
    expect((await request(app.http, '/static/notes.txt', { headers: { range: 'bytes=10-', 'if-range': lastModified } })).status).toBe(206);
    const stale = await request(app.http, '/static/notes.txt', { headers: { range: 'bytes=10-', 'if-range': 'W/"1-1"' } });
    expect([stale.status, stale.body.toString()]).toEqual([200, '0123456789abcdefghij']);
    const old = await request(app.http, '/static/notes.txt', { headers: { range: 'bytes=10-', 'if-range': new Date(0).toUTCString() } });
    expect(old.status).toBe(200);
  });

  it('HEAD with a range: 206 headers, no body', async () => {
    const r = await request(app.http, '/static/big.bin', { method: 'HEAD', headers: { range: 'bytes=100-199' } });
    expect([r.status, r.headers['content-length'], r.headers['content-range'], r.body.length]).toEqual([206, '100', `bytes 100-199/${SIZE}`, 0]);
  });

  it('a 3 MB download cut half way resumes with Range to the same bytes', async () => {
    const first = await request(app.http, '/static/big.bin', { cutAfter: SIZE / 2 });
    expect(first.status).toBe(200);
    const have = first.body.subarray(0, Math.floor(SIZE / 2));
    const rest = await request(app.http, '/static/big.bin', { headers: { range: `bytes=${have.length}-`, 'if-range': first.headers.etag! } });
    expect(rest.status).toBe(206);
    expect(rest.headers['content-range']).toBe(`bytes ${have.length}-${SIZE - 1}/${SIZE}`);
    expect(Buffer.concat([have, rest.body]).equals(content)).toBe(true);
  });

  it('keeps the FileHandler rules: hidden files, the config database, `..`, symlinks out, index, custom headers', async () => {
    const range = { range: 'bytes=0-3' };
    // `ignore: []` serves dotfiles here, but the config's own database never.
    expect((await request(app.http, '/static/chat.sqlite', { headers: range })).status).toBe(404);
    expect((await request(app.http, '/static/chat.sqlite-wal', { headers: range })).status).toBe(404);
    expect((await request(app.http, '/static/../secret.txt', { headers: range })).status).toBe(403);
    expect((await request(app.http, '/static/%2e%2e/secret.txt', { headers: range })).status).toBe(403);
    expect((await request(app.http, '/static/link-out', { headers: range })).status).toBe(404);
    const index = await request(app.http, '/static/docs/', { headers: { range: 'bytes=4-' } });
    expect([index.status, index.body.toString()]).toEqual([206, 'docs index</h1>']);
    const custom = await request(app.http, '/custom/notes.txt', { headers: range });
    expect([custom.status, custom.headers['content-type'], custom.headers['cache-control'], custom.body.toString()]).toEqual([206, 'text/x-custom', 'max-age=60', '0123']);
    // A `%` in a real file name is not decoded again by the library.
    const pct = await request(app.http, '/static/100%25%20real.txt', { headers: { range: 'bytes=0-2' } });
    expect([pct.status, pct.body.toString()]).toEqual([206, 'per']);
  });

  it('304 and 412 still answer conditional requests', async () => {
    const full = await request(app.http, '/static/notes.txt');
    expect((await request(app.http, '/static/notes.txt', { headers: { 'if-none-match': full.headers.etag! } })).status).toBe(304);
    expect((await request(app.http, '/static/notes.txt', { headers: { 'if-match': '"nope"' } })).status).toBe(412);
  });
});

describe('send-file', () => {
  it('never follows a symlink it is handed (O_NOFOLLOW reaches the open), and frees every descriptor', async () => {
    const server = http.createServer((req, res) => void sendFile(req, res, path.join(dir, 'public', req.url!.slice(1))));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const fds = (): number => readdirSync('/proc/self/fd').length;
    try {
      const before = fds();
      const link = await request(base, '/link-out');
      expect([link.status, link.body.toString()]).toEqual([404, 'Not Found']);
      expect((await request(base, '/notes.txt', { headers: { range: 'bytes=2-4' } })).body.toString()).toBe('234');
      expect((await request(base, '/missing.txt')).status).toBe(404);
      expect((await request(base, '/docs')).status).toBe(404);
      // Downloads cut by the client release their file descriptors.
      for (let i = 0; i < 5; i++) await request(base, '/big.bin', { cutAfter: 100_000 });
      const deadline = Date.now() + 5000;
      while (fds() > before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(fds()).toBeLessThanOrEqual(before);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
