/**
 * `msghub check` reports every problem of a config in one run: a url entry without `pattern` or with an unknown
 * handler must not hide bad kwargs in other entries, bad expressions, bad app-level sections (`listen:`,
 * `email:`, `auth:`, `modules:`) or problems in imported files. Checked through `compileService` and through the
 * real CLI (`node dist/cli.js check`; run `npx tsc -p tsconfig.build.json` first).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigIssue } from '../../src/errors.js';
import { compileService } from '../../src/service.js';
import { CLI } from '../support/mounts.js';
import { issuesOf, makeTree } from './helpers.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

function tree(files: Record<string, string>): string {
  const { dir, cleanup } = makeTree(files);
  cleanups.push(cleanup);
  return dir;
}

/** Each url entry is broken in a different way; so are the app-level sections and two imported files. */
const FILES = {
  'gramex.yaml': `
listen: {port: 99999}
email:
  mail: {type: nosuch}
auth:
  jwt: {algorithms: 7}
modules:
  util: missing.js
import: [apps/good/gramex.yaml, apps/broken/gramex.yaml]
url:
  nopattern:
    handler: MessageHandler
    kwargs: {url: 'sqlite:///$YAMLPATH/a.db', table: a, history_limit: -1}
  badhandler:
    pattern: /x
    handler: MesageHandler
  badkwargs:
    pattern: /y
    handler: MessageHandler
    kwargs: {url: 'sqlite:///$YAMLPATH/a.db', table: b, columns: {body: TXT}}
  badexpr:
    pattern: /z
    handler: MessageHandler
    kwargs: {url: 'sqlite:///$YAMLPATH/a.db', table: c, prepare: 'msg.body ==='}
  badpriority:
    pattern: /p
    handler: MessageHandler
    priority: high
    kwargs: {url: 'sqlite:///$YAMLPATH/a.db', table: d, edit: everyone}
  fine:
    pattern: /ok
    handler: MessageHandler
    kwargs: {url: 'sqlite:///$YAMLPATH/a.db', table: e}
`,
  'apps/good/gramex.yaml': `
url:
  imported:
    pattern: /$YAMLURL/chat
    handler: MessageHandler
    kwargs: {url: 'sqlite:///$YAMLPATH/b.db', table: 'bad-name'}
`,
  'apps/broken/gramex.yaml': 'url: [unclosed\n',
};

/** Where each problem must be reported, as `file-relative-to-root: path` (a YAML syntax error has line:col). */
const EXPECTED: [file: string, path: string | RegExp][] = [
  ['gramex.yaml', 'listen.port'],
  ['gramex.yaml', 'modules.util'],
  ['gramex.yaml', 'url.nopattern.pattern'],
  ['gramex.yaml', 'url.nopattern.kwargs.history_limit'],
  ['gramex.yaml', 'url.badhandler.handler'],
  ['gramex.yaml', /^url\.badkwargs\.kwargs\.columns\.body/],
  ['gramex.yaml', 'url.badexpr.kwargs.prepare'],
  ['gramex.yaml', 'url.badpriority.priority'],
  ['gramex.yaml', 'url.badpriority.kwargs.edit'],
  ['gramex.yaml', /^email\.mail/],
  ['gramex.yaml', /^auth\.jwt/],
  ['apps/good/gramex.yaml', 'url.imported.kwargs.table'],
  ['apps/broken/gramex.yaml', /^\d+:\d+$/],
];

function missing(dir: string, issues: readonly { file?: string; path: string }[]): string[] {
  return EXPECTED.filter(
    ([file, p]) => !issues.some((i) => i.file === path.join(dir, file) && (typeof p === 'string' ? i.path === p : p.test(i.path))),
  ).map(([file, p]) => `${file}: ${String(p)}`);
}

/** Runs `node dist/cli.js check <file>` and resolves with its exit code and output, bounded in time. */
function runCheck(file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'check', file], { cwd: path.dirname(file), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`msghub check did not finish: ${stderr}`));
    }, 20_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('msghub check reports every problem in one run', () => {
  it('compileService lists the problems of every url entry, app-level section and imported file together', async () => {
    const dir = tree(FILES);
    const issues = await issuesOf(compileService(path.join(dir, 'gramex.yaml'), { log: () => {} }));
    expect(missing(dir, issues)).toEqual([]);
    // Every issue names its file, and each problem is reported once.
    expect(issues.filter((i) => !i.file)).toEqual([]);
    const lines = issues.map((i) => `${i.file}: ${i.path}: ${i.message}`);
    expect(new Set(lines).size).toBe(lines.length);
    // The well-formed entry is not blamed, and a check never creates a database.
    expect(issues.filter((i) => i.path.startsWith('url.fine'))).toEqual([]);
    expect(readdirSync(dir).filter((f) => f.endsWith('.db'))).toEqual([]);
  });

  it('checks the kwargs of an entry whose pattern is missing or invalid, and of one in an imported file', async () => {
    const dir = tree({
      'gramex.yaml': `
url:
  a: {handler: MessageHandler, kwargs: {url: 'sqlite:///x.db', table: t, durable: maybe}}
  b: {pattern: 'no-slash', handler: MessageHandler, kwargs: {url: 'sqlite:///x.db', table: t2, open: 'args.x ='}}
  c: {pattern: /c, handler: FileHandler, kwargs: {nonsense: 1}}
  d: {pattern: /d, handler: MessageHandler, kwargs: {url: 'sqlite:///x.db', table: t3}}
`,
    });
    const issues: readonly ConfigIssue[] = await issuesOf(compileService(path.join(dir, 'gramex.yaml'), { log: () => {} }));
    const paths = issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining(['url.a.pattern', 'url.a.kwargs.durable', 'url.b.pattern', 'url.b.kwargs.open']),
    );
    expect(paths.some((p) => p.startsWith('url.c.kwargs'))).toBe(true);
    expect(paths.some((p) => p.startsWith('url.d'))).toBe(false);
  });

  it('a config with no problems still compiles, and an entry left out for a bad pattern is never served', async () => {
    const dir = tree({ 'gramex.yaml': "url:\n  d: {pattern: /d, handler: MessageHandler, kwargs: {url: 'sqlite:///x.db', table: t}}\n" });
    const compiled = await compileService(path.join(dir, 'gramex.yaml'), { log: () => {} });
    expect(compiled.messageHandlers.map((h) => h.entry.name)).toEqual(['d']);
  });

  it('the CLI prints every problem as "<file>: <path>: <message>" on stderr, then the count, and exits 1', async () => {
    expect(existsSync(CLI), `${CLI} is missing: run npx tsc -p tsconfig.build.json`).toBe(true);
    const dir = tree(FILES);
    const { code, stdout, stderr } = await runCheck(path.join(dir, 'gramex.yaml'));
    expect(code).toBe(1);
    expect(stdout).toBe('');
    const lines = stderr.trimEnd().split('\n');
    const count = /^(\d+) configuration error\(s\)$/.exec(lines.pop()!);
    expect(count, stderr).not.toBeNull();
    expect(Number(count![1])).toBe(lines.length);
    const issues = lines.map((line) => {
      const m = /^(\/[^:]+): ([^:]+|\d+:\d+): (.+)$/.exec(line);
      expect(m, line).not.toBeNull();
      return { file: m![1]!, path: m![2]!, message: m![3]! };
    });
    expect(missing(dir, issues)).toEqual([]);
    expect(readdirSync(dir).filter((f) => f.endsWith('.db'))).toEqual([]);
  });

  it('the CLI prints "<file>: OK" and exits 0 for a valid config', async () => {
    const dir = tree({ 'gramex.yaml': "url:\n  d: {pattern: /d, handler: MessageHandler, kwargs: {url: 'sqlite:///x.db', table: t}}\n" });
    const file = path.join(dir, 'gramex.yaml');
    expect(await runCheck(file)).toEqual({ code: 0, stdout: `${file}: OK\n`, stderr: '' });
  });

  it('the CLI prints a warning as one "warn: <message>" line and still passes', async () => {
    const dir = tree({
      'gramex.yaml': `
email: {dev: {type: stub}}
url:
  d: {pattern: /d, handler: MessageHandler, kwargs: {url: 'sqlite:///x.db', table: t, alert: {to: a@example.org}}}
`,
    });
    const file = path.join(dir, 'gramex.yaml');
    expect(await runCheck(file)).toEqual({
      code: 0,
      stdout: `${file}: OK\n`,
      stderr: 'warn: url.d.kwargs.alert: no service: given; using the first email service "dev"\n',
    });
  });
});
