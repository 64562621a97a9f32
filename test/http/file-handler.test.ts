import { mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigObject, type UrlEntry } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { createFileHandler, validateFileHandler, type HttpHandler } from '../../src/http/file-handler.js';
import { sendText } from '../../src/http/respond.js';
import { compileRoutes } from '../../src/http/router.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

let dir: string;
let server: http.Server;
let port: number;

/** Sends `rawPath` exactly as given: http.request does not normalise `..` or `%2e`. */
function request(rawPath: string, options: { method?: string; headers?: http.OutgoingHttpHeaders } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: rawPath, agent: false, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(5_000, () => req.destroy(new Error(`timeout: ${rawPath}`)));
    req.on('error', reject);
    req.end();
  });
}

const BIG = 3 * 1024 * 1024 + 17;

beforeAll(async () => {
  dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'msghub-files-')));
  const files: Record<string, string | Buffer> = {
    'public/index.html': '<h1>home</h1>',
    'public/app.js': 'console.log(1)',
    'public/style.css': 'body{}',
    'public/data.json': '{"a":1}',
    'public/notes.txt': 'notes',
    'public/image.png': Buffer.from([0x89, 0x50, 0x4e, 0x47]),
    'public/blob.unknownext': 'x',
    'public/big.bin': Buffer.alloc(BIG, 7),
    'public/café menu.txt': 'menu',
    'public/%2e%2e': 'literal name',
    'public/docs/index.html': '<h1>docs</h1>',
    'public/sub/a.txt': 'a',
    'public/.env': 'SECRET=1',
    'public/.git/config': '[core]',
    'public/gramex.yaml': 'url: {}',
    'public/messages.db': 'sqlite',
    'secret.txt': 'top secret',
    'private/key.txt': 'key',
  };
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), content);
  }
  symlinkSync(path.join(dir, 'secret.txt'), path.join(dir, 'public', 'link-out'));
  symlinkSync(path.join(dir, 'private'), path.join(dir, 'public', 'dir-out'));
  symlinkSync('notes.txt', path.join(dir, 'public', 'link-in'));

  const fh = (pattern: string, kwargs: Record<string, unknown>): unknown => ({ pattern, handler: 'FileHandler', kwargs });
  const config = await loadConfigObject(
    {
      url: {
        static: fh('/static/(.*)', { path: 'public' }),
        single: fh('/single', { path: '$YAMLPATH/public/notes.txt' }),
        home: fh('/home', { path: 'public' }),
        bare: fh('/bare/(.*)', { path: 'public', index: false }),
        custom: fh('/custom/(.*)', { path: 'public', headers: { 'Cache-Control': 'max-age=60', 'Content-Type': 'text/x-custom' } }),
        open: fh('/open/(.*)', { path: 'public', ignore: [] }),
      },
    },
    dir,
    { validators: { FileHandler: validateFileHandler } },
  );
  const router = compileRoutes(config.urls);
  const handlers = new Map<string, HttpHandler>(config.urls.map((e) => [e.name, createFileHandler(e)]));
  server = http.createServer((req, res) => {
    const pathname = req.url!.split('?')[0]!;
    const match = router.match(pathname);
    if (!match) sendText(res, 404, 'Not Found');
    else void handlers.get(match.entry.name)!(req, res, match.groups);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe('createFileHandler', () => {
  describe('serving files', () => {
    it.each([
      ['index.html', 'text/html; charset=utf-8'],
      ['app.js', 'text/javascript; charset=utf-8'],
      ['style.css', 'text/css; charset=utf-8'],
      ['data.json', 'application/json; charset=utf-8'],
      ['notes.txt', 'text/plain; charset=utf-8'],
      ['image.png', 'image/png'],
      ['blob.unknownext', 'application/octet-stream'],
    ])('serves %s as %s with length, validators and nosniff', async (name, type) => {
      const res = await request(`/static/${name}`);
      const size = statSync(path.join(dir, 'public', name)).size;
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe(type);
      expect(res.headers['content-length']).toBe(String(size));
      expect(res.body.length).toBe(size);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['last-modified']).toBe(statSync(path.join(dir, 'public', name)).mtime.toUTCString());
      expect(res.headers.etag).toMatch(/^W\/"[0-9a-f]+-[0-9a-f]+"$/);
    });

    it('streams a large file completely', async () => {
      const res = await request('/static/big.bin');
      expect(res.headers['content-length']).toBe(String(BIG));
      expect(res.body.length).toBe(BIG);
      expect(res.body.every((b) => b === 7)).toBe(true);
    });

    it('decodes the path inside the folder, so encoded names work', async () => {
      const res = await request('/static/caf%C3%A9%20menu.txt');
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe('menu');
    });

    it('serves a configured file whatever the path, resolving $YAMLPATH', async () => {
      const res = await request('/single');
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe('notes');
    });

    it('adds configured headers, which may replace the content type', async () => {
      const res = await request('/custom/notes.txt');
      expect(res.headers['cache-control']).toBe('max-age=60');
      expect(res.headers['content-type']).toBe('text/x-custom');
    });

    it('follows a symlink that stays inside the folder', async () => {
      const res = await request('/static/link-in');
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe('notes');
    });

    it('answers HEAD with the GET headers and no body', async () => {
      const res = await request('/static/notes.txt', { method: 'HEAD' });
      expect(res.status).toBe(200);
      expect(res.headers['content-length']).toBe('5');
      expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(res.body.length).toBe(0);
    });

    it('refuses other methods with 405, an Allow header and a short plain-text body', async () => {
      for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
        const res = await request('/static/notes.txt', { method });
        expect(res.status).toBe(405);
        expect(res.headers.allow).toBe('GET, HEAD');
        expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
        expect(res.body.toString()).toBe(`Method ${method} is not allowed here`);
      }
    });
  });

  describe('folders', () => {
    it('serves the index file for the folder itself', async () => {
      for (const p of ['/static/', '/home']) {
        const res = await request(p);
        expect(res.status).toBe(200);
        expect(res.body.toString()).toBe('<h1>home</h1>');
      }
    });

    it('serves a subfolder index at its trailing slash', async () => {
      const res = await request('/static/docs/');
      expect(res.body.toString()).toBe('<h1>docs</h1>');
    });

    it('redirects a subfolder without its trailing slash with a relative Location that keeps the query', async () => {
      const res = await request('/static/docs?x=1');
      expect(res.status).toBe(301);
      expect(res.headers.location).toBe('./docs/?x=1');
    });

    it('answers 404, never a listing, for a folder without an index', async () => {
      const res = await request('/static/sub/');
      expect(res.status).toBe(404);
      expect(res.body.toString()).toBe('Not Found');
    });

    it('serves no index when index is false', async () => {
      expect((await request('/bare/')).status).toBe(404);
      expect((await request('/bare/notes.txt')).status).toBe(200);
    });

    it('answers 404 for a missing file and for a file asked for as a folder', async () => {
      expect((await request('/static/nope.txt')).status).toBe(404);
      expect((await request('/static/notes.txt/')).status).toBe(404);
    });
  });

  describe('conditional requests', () => {
    it('answers 304 when the file has not changed since If-Modified-Since', async () => {
      const first = await request('/static/notes.txt');
      const res = await request('/static/notes.txt', { headers: { 'If-Modified-Since': first.headers['last-modified']! } });
      expect(res.status).toBe(304);
      expect(res.body.length).toBe(0);
      expect(res.headers.etag).toBe(first.headers.etag);
    });

    it('answers 200 when the file changed after If-Modified-Since', async () => {
      const res = await request('/static/notes.txt', { headers: { 'If-Modified-Since': new Date(0).toUTCString() } });
      expect(res.status).toBe(200);
    });

    it('answers 304 for a matching If-None-Match and lets it override If-Modified-Since', async () => {
      const { etag } = (await request('/static/notes.txt')).headers;
      expect((await request('/static/notes.txt', { headers: { 'If-None-Match': `"x", ${etag!}` } })).status).toBe(304);
      const stale = { 'If-None-Match': '"other"', 'If-Modified-Since': new Date(Date.now() + 86_400_000).toUTCString() };
      expect((await request('/static/notes.txt', { headers: stale })).status).toBe(200);
    });
  });

  describe('path traversal', () => {
    it.each([
      ['dot-dot segment', '/static/../secret.txt'],
      ['dot-dot into a sibling folder', '/static/sub/../../private/key.txt'],
      ['encoded dot-dot', '/static/%2e%2e/secret.txt'],
      ['upper-case encoded dot-dot and slash', '/static/%2E%2E%2Fsecret.txt'],
      ['mixed encoding', '/static/.%2e/secret.txt'],
      ['single dot segment', '/static/./notes.txt'],
      ['raw backslashes', '/static/sub\\..\\..\\secret.txt'],
      ['encoded backslash', '/static/..%5csecret.txt'],
      ['NUL byte', '/static/notes.txt%00.png'],
      ['absolute path via doubled slash', '/static//etc/passwd'],
      ['absolute path via encoded slash', '/static/%2fetc%2fpasswd'],
      ['empty segment', '/static/sub//a.txt'],
      ['drive letter', '/static/C:%5cWindows'],
    ])('refuses a %s with 403', async (_name, rawPath) => {
      const res = await request(rawPath);
      expect(res.status).toBe(403);
      expect(res.body.toString()).toBe('Forbidden');
      expect(res.body.toString()).not.toMatch(/secret|key/);
    });

    it.each([
      ['symlinked file pointing outside', '/static/link-out'],
      ['symlinked folder pointing outside', '/static/dir-out/key.txt'],
      ['dotfile', '/static/.env'],
      ['file in a dot-folder', '/static/.git/config'],
      ['Gramex config', '/static/gramex.yaml'],
      ['SQLite database', '/static/messages.db'],
    ])('hides a %s with 404', async (_name, rawPath) => {
      const res = await request(rawPath);
      expect(res.status).toBe(404);
      expect(res.body.toString()).toBe('Not Found');
    });

    it('decodes only once, so a double-encoded dot-dot names a literal file', async () => {
      const res = await request('/open/%252e%252e');
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe('literal name');
    });

    it('serves dotfiles when ignore is emptied, but still never leaves the folder', async () => {
      expect((await request('/open/.env')).status).toBe(200);
      expect((await request('/open/link-out')).status).toBe(404);
      expect((await request('/open/../secret.txt')).status).toBe(403);
    });
  });
});

describe('validateFileHandler', () => {
  function entryWith(kwargs: Record<string, unknown>): UrlEntry {
    return { name: 's', pattern: '/s/(.*)', handler: 'FileHandler', kwargs, priority: 0, path: 'url.s', file: '/app/gramex.yaml', yamlPath: dir, yamlUrl: '' };
  }

  it('accepts a minimal folder or file entry', () => {
    expect(validateFileHandler(entryWith({ path: 'public' }))).toEqual([]);
    expect(validateFileHandler(entryWith({ path: `${dir}/secret.txt`, index: false, headers: { 'X-A': 1 }, ignore: ['*.bak'] }))).toEqual([]);
  });

  it('reports every problem with its exact path and the entry file', () => {
    const file = '/app/gramex.yaml';
    expect(
      validateFileHandler(entryWith({ index: 'a/b.html', headers: { 'Bad Name': 'x', 'X-Ok': 'a\r\nb', 'X-Obj': {} }, ignore: [''], auth: true })),
    ).toEqual([
      { path: 'url.s.kwargs.auth', file, message: 'unknown FileHandler kwarg; allowed: path, index, headers, ignore' },
      { path: 'url.s.kwargs.path', file, message: 'path is required: the file or folder to serve' },
      { path: 'url.s.kwargs.index', file, message: 'index must be a file name (no slashes) or false' },
      { path: 'url.s.kwargs.headers["Bad Name"]', file, message: 'not a valid HTTP header name' },
      { path: 'url.s.kwargs.headers.X-Ok', file, message: 'a header value must be a string or number without line breaks' },
      { path: 'url.s.kwargs.headers.X-Obj', file, message: 'a header value must be a string or number without line breaks' },
      { path: 'url.s.kwargs.ignore[0]', file, message: 'an ignore pattern must be a non-empty string' },
    ]);
  });

  it('reports a path that does not exist, resolved against $YAMLPATH', () => {
    expect(validateFileHandler(entryWith({ path: 'nope' }))).toEqual([
      { path: 'url.s.kwargs.path', file: '/app/gramex.yaml', message: `path does not exist: ${path.join(dir, 'nope')}` },
    ]);
  });

  it('makes createFileHandler throw a ConfigError for invalid kwargs', () => {
    expect(() => createFileHandler(entryWith({}))).toThrow(ConfigError);
  });
});
