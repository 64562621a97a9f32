/**
 * The examples in README.md and docs/ run as written:
 * - every ```yaml block is a whole config that `compileService` accepts (what `msghub check` runs), unless its first
 *   line says `# fragment` (a piece of a larger config, shown for one key): those only parse;
 * - the README tour runs: its config served on a loopback port, and its browser-console snippet executed against
 *   it (with `ws`'s WebSocket standing in for the browser's; the only change is the port), hearing the POST, the
 *   PUT and the DELETE it sends.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import vm from 'node:vm';
import WebSocket from 'ws';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { MessageService, compileService, mountHttp } from '../../src/index.js';
import { ROOT } from '../support/mounts.js';
import { tempDir } from '../support/tmp.js';

const FILES = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const blocks = (file: string, lang: string): string[] =>
  [...readFileSync(path.join(ROOT, file), 'utf8').matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
const isFragment = (block: string): boolean => /^#\s*fragment\b/.test(block.trimStart());

/** `$NAME` variables the examples use, with values that satisfy their sections (secrets long enough, etc.). */
const ENV = new Proxy({} as Record<string, string>, {
  get: (_t, name) => (typeof name === 'string' ? `example-${name.toLowerCase()}-value-that-is-long-enough-for-a-secret` : undefined),
});

describe('documentation snippets', () => {
  const counts = { whole: 0, fragment: 0 };

  it.each(FILES)('every whole YAML config in %s compiles (fragments marked # fragment)', async (file) => {
    const failures: string[] = [];
    for (const [i, block] of blocks(file, 'yaml').entries()) {
      const doc = YAML.parseDocument(block);
      expect(doc.errors.map((e) => e.message), `${file} YAML block ${i + 1}`).toEqual([]);
      if (isFragment(block)) {
        counts.fragment++;
        continue;
      }
      counts.whole++;
      // Folders a FileHandler example serves exist next to the config, as they would in the reader's app.
      const baseDir = tempDir();
      mkdirSync(path.join(baseDir, 'static'));
      const result = await compileService({ config: doc.toJS(), baseDir }, { log: () => {}, env: ENV }).then(
        () => 'ok',
        (err: { issues?: { path: string; message: string }[]; message: string }) => err.issues?.map((x) => `${x.path}: ${x.message}`).join('\n') ?? err.message,
      );
      if (result !== 'ok') failures.push(`${file} YAML block ${i + 1} (${block.split('\n')[0]}):\n${result}`);
    }
    expect(failures).toEqual([]);
  });

  it('counts whole configs and fragments (the report lists them)', () => {
    expect(counts.whole).toBeGreaterThan(0);
    console.info(`docs YAML: ${counts.whole} whole configs compiled, ${counts.fragment} fragments parsed`);
  });

  it("runs the README tour: its config, and its browser snippet's POST, PUT and DELETE", async () => {
    const yaml = blocks('README.md', 'yaml');
    const tour = yaml.find((b) => b.includes('prepare: msg.length'))!;
    const snippet = blocks('README.md', 'js').find((b) => b.includes("new WebSocket('ws://127.0.0.1:9988/chat"))!;
    expect(tour && snippet).toBeTruthy();
    const service = await MessageService.start({ config: YAML.parse(tour), baseDir: tempDir() }, { log: () => {} });
    const server = http.createServer((req, res) => {
      if (!service.handleRequest(req, res)) res.writeHead(404).end();
    });
    mountHttp(server, service);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as AddressInfo).port;
    const logged: Record<string, unknown>[] = [];
    const sockets: WebSocket[] = [];
    try {
      const done = new Promise<void>((resolve) => {
        const context = vm.createContext({
          WebSocket: class extends WebSocket {
            constructor(url: string) {
              super(url);
              sockets.push(this);
            }
          },
          JSON,
          console: {
            log: (m: Record<string, unknown>) => {
              logged.push(m);
              if (m._method === 'DELETE') resolve();
            },
          },
        });
        vm.runInContext(snippet.replaceAll('127.0.0.1:9988', `127.0.0.1:${port}`), context);
      });
      await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(`tour timed out: ${JSON.stringify(logged)}`)), 10_000))]);
      expect(logged.map((m) => m._method)).toEqual(['POST', 'PUT', 'DELETE']);
      expect(logged[0]).toMatchObject({ body: 'How do I…?', topic: 'Help', length: 10, user: null, _seq: 1 });
      expect(logged[1]).toMatchObject({ body: 'Solved', length: 6, _seq: 2 });
      expect(logged[2]).toEqual({ _method: 'DELETE', id: logged[0]!.id, _seq: 3 });
    } finally {
      for (const s of sockets) s.terminate();
      await service.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
