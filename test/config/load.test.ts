import { symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, loadConfigObject, type LoadOptions } from '../../src/config/load.js';
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

const env: LoadOptions = { env: { HOME_DB: '/data/app.db', PORT: '8123', EMPTY: '' } };

describe('loadConfig', () => {
  describe('variables', () => {
    it('expands $YAMLPATH to the absolute folder of the file that contains the string', async () => {
      const dir = tree({
        'gramex.yaml': `
url:
  root: {pattern: /a, handler: MessageHandler, kwargs: {url: 'sqlite:///$YAMLPATH/x.db'}}
import: app/gramex.yaml
`,
        'app/gramex.yaml': `
url:
  app: {pattern: /b, handler: MessageHandler, kwargs: {url: 'sqlite:///$YAMLPATH/y.db'}}
`,
      });
      const config = await loadConfig(path.join(dir, 'gramex.yaml'), env);
      const byName = Object.fromEntries(config.urls.map((u) => [u.name, u]));
      expect(byName.root!.kwargs.url).toBe(`sqlite:///${dir}/x.db`);
      expect(byName.root!.yamlPath).toBe(dir);
      expect(byName.root!.file).toBe(path.join(dir, 'gramex.yaml'));
      expect(byName.app!.kwargs.url).toBe(`sqlite:///${dir}/app/y.db`);
      expect(byName.app!.yamlPath).toBe(path.join(dir, 'app'));
      expect(byName.app!.file).toBe(path.join(dir, 'app', 'gramex.yaml'));
    });

    it('expands $YAMLURL to an empty string at the root, so /$YAMLURL/simple becomes /simple', async () => {
      const dir = tree({ 'gramex.yaml': 'url:\n  simple: {pattern: /$YAMLURL/simple, handler: MessageHandler}\n' });
      const config = await loadConfig(path.join(dir, 'gramex.yaml'));
      expect(config.urls[0]!.pattern).toBe('/simple');
      expect(config.urls[0]!.yamlUrl).toBe('');
    });

    it('gives each imported file the URL of its folder relative to the root config', async () => {
      const dir = tree({
        'gramex.yaml': 'import: app/gramex.yaml\n',
        'app/gramex.yaml': 'url:\n  a: {pattern: /$YAMLURL/x, handler: MessageHandler}\nimport: sub/gramex.yaml\n',
        'app/sub/gramex.yaml': 'url:\n  b: {pattern: /$YAMLURL/y, handler: MessageHandler}\n',
      });
      const config = await loadConfig(path.join(dir, 'gramex.yaml'));
      expect(config.urls.map((u) => [u.name, u.pattern, u.yamlUrl])).toEqual([
        ['b', '/app/sub/y', '/app/sub'],
        ['a', '/app/x', '/app'],
      ]);
    });

    it('uses an explicit YAMLURL from the import and carries it into nested imports', async () => {
      const dir = tree({
        'gramex.yaml': 'import:\n  admin: {path: app/gramex.yaml, YAMLURL: /console/}\n',
        'app/gramex.yaml': 'url:\n  a: {pattern: /$YAMLURL/x, handler: MessageHandler}\nimport: sub/gramex.yaml\n',
        'app/sub/gramex.yaml': 'url:\n  b: {pattern: /$YAMLURL/y, handler: MessageHandler}\n',
      });
      const config = await loadConfig(path.join(dir, 'gramex.yaml'));
      expect(config.urls.map((u) => u.pattern).sort()).toEqual(['/console/sub/y', '/console/x']);
    });

    it('expands $NAME and ${NAME} from options.env, an empty value included', async () => {
      const config = await loadConfigObject(
        { url: { a: { pattern: '/a', handler: 'MessageHandler', kwargs: { url: 'sqlite:///$HOME_DB', x: '${HOME_DB}-x', e: '[$EMPTY]' } } } },
        '/srv',
        env,
      );
      expect(config.urls[0]!.kwargs).toEqual({ url: 'sqlite:////data/app.db', x: '/data/app.db-x', e: '[]' });
    });

    it('reports an unset environment variable at the path of the string that uses it', async () => {
      const dir = tree({
        'gramex.yaml': 'url:\n  a:\n    pattern: /a\n    handler: MessageHandler\n    kwargs: {alert: {to: [ok, $MISSING_TO]}, k: "${NOPE}"}\n',
      });
      const file = path.join(dir, 'gramex.yaml');
      expect(await issuesOf(loadConfig(file, { env: {} }))).toEqual([
        { path: 'url.a.kwargs.alert.to[1]', file, message: 'environment variable $MISSING_TO is not set (write $$ for a literal $)' },
        { path: 'url.a.kwargs.k', file, message: 'environment variable $NOPE is not set (write $$ for a literal $)' },
      ]);
    });

    it('reads $$ as a literal dollar and leaves other dollars, such as regex anchors, alone', async () => {
      const config = await loadConfigObject(
        {
          url: {
            a: {
              pattern: '^/api/(\\d+)$',
              handler: 'MessageHandler',
              kwargs: { price: '$$5 or $5', tpl: '$${name}', expr: '`${a.b}`', end: 'cost$' },
            },
          },
        },
        '/srv',
        { env: {} },
      );
      expect(config.urls[0]!.pattern).toBe('^/api/(\\d+)$');
      expect(config.urls[0]!.kwargs).toEqual({ price: '$5 or $5', tpl: '${name}', expr: '`${a.b}`', end: 'cost$' });
    });

    it('expands variables inside nested mappings and lists but never in keys', async () => {
      const config = await loadConfigObject(
        { url: { a: { pattern: '/a', handler: 'MessageHandler', kwargs: { $PORT: [{ deep: ['$PORT'] }, 3, true, null] } } } },
        '/srv',
        env,
      );
      expect(config.urls[0]!.kwargs).toEqual({ $PORT: [{ deep: ['8123'] }, 3, true, null] });
    });

    it('collapses doubled slashes in patterns only, keeping sqlite:////abs URLs in kwargs', async () => {
      const dir = tree({
        'gramex.yaml': "url:\n  a: {pattern: '//$YAMLURL//x///y', handler: MessageHandler, kwargs: {url: 'sqlite:///$YAMLPATH/m.db'}}\n",
      });
      const config = await loadConfig(path.join(dir, 'gramex.yaml'));
      expect(config.urls[0]!.pattern).toBe('/x/y');
      expect(config.urls[0]!.kwargs.url).toBe(`sqlite:////${dir.slice(1)}/m.db`);
    });

    it('reports $YAMLURL in a file outside the root folder unless its import gives a YAMLURL', async () => {
      const dir = tree({
        'site/gramex.yaml': 'import: [../shared/gramex.yaml, {path: ../other/gramex.yaml, YAMLURL: /other}]\n',
        'shared/gramex.yaml': 'url:\n  s: {pattern: /$YAMLURL/s, handler: MessageHandler}\n',
        'other/gramex.yaml': 'url:\n  o: {pattern: /$YAMLURL/o, handler: MessageHandler}\n',
      });
      expect(await issuesOf(loadConfig(path.join(dir, 'site', 'gramex.yaml')))).toEqual([
        {
          path: 'url.s.pattern',
          file: path.join(dir, 'shared', 'gramex.yaml'),
          message: '$YAMLURL is undefined: this file is outside the root config folder; give its import a YAMLURL',
        },
      ]);
    });
  });

  describe('import', () => {
    const app = (name: string): string => `url:\n  ${name}: {pattern: /${name}, handler: MessageHandler}\n`;

    it('imports a single path, a list and a name: path mapping', async () => {
      const dir = tree({
        'one.yaml': 'import: a/gramex.yaml\n',
        'list.yaml': 'import: [a/gramex.yaml, b/gramex.yaml]\n',
        'map.yaml': 'import:\n  first: a/gramex.yaml\n  second: {path: b/gramex.yaml}\n',
        'a/gramex.yaml': app('a'),
        'b/gramex.yaml': app('b'),
      });
      const names = async (f: string): Promise<string[]> => (await loadConfig(path.join(dir, f))).urls.map((u) => u.name);
      expect(await names('one.yaml')).toEqual(['a']);
      expect(await names('list.yaml')).toEqual(['a', 'b']);
      expect(await names('map.yaml')).toEqual(['a', 'b']);
    });

    it('expands * and ? wildcards within a segment, in sorted order, skipping hidden folders', async () => {
      const dir = tree({
        'gramex.yaml': 'import: apps/*/gramex.yaml\n',
        'apps/b1/gramex.yaml': app('b1'),
        'apps/a1/gramex.yaml': app('a1'),
        'apps/.hidden/gramex.yaml': app('hidden'),
        'apps/c1/other.yaml': app('c1'),
      });
      const config = await loadConfig(path.join(dir, 'gramex.yaml'));
      expect(config.urls.map((u) => [u.name, u.yamlUrl])).toEqual([
        ['a1', '/apps/a1'],
        ['b1', '/apps/b1'],
      ]);
    });

    it('imports nothing for a wildcard that matches nothing', async () => {
      const dir = tree({ 'gramex.yaml': 'import: plugins/*.yaml\n' });
      expect((await loadConfig(path.join(dir, 'gramex.yaml'))).urls).toEqual([]);
    });

    it('reports a missing imported file at the path of its import', async () => {
      const dir = tree({ 'gramex.yaml': 'import:\n  chat: chat/gramex.yaml\n' });
      const file = path.join(dir, 'gramex.yaml');
      expect(await issuesOf(loadConfig(file))).toEqual([
        { path: 'import.chat', file, message: `cannot read ${path.join(dir, 'chat', 'gramex.yaml')}: ENOENT` },
      ]);
    });

    it('reports an import cycle with the chain of files that forms it', async () => {
      const dir = tree({
        'gramex.yaml': 'import: a.yaml\n',
        'a.yaml': 'import: [b.yaml]\n',
        'b.yaml': 'import: {back: a.yaml}\n',
      });
      expect(await issuesOf(loadConfig(path.join(dir, 'gramex.yaml')))).toEqual([
        { path: 'import.back', file: path.join(dir, 'b.yaml'), message: 'import cycle: a.yaml → b.yaml → a.yaml' },
      ]);
    });

    it('reports a config that imports itself, also through a symlink', async () => {
      const dir = tree({ 'gramex.yaml': 'import: [gramex.yaml, alias.yaml]\n' });
      symlinkSync(path.join(dir, 'gramex.yaml'), path.join(dir, 'alias.yaml'));
      const issues = await issuesOf(loadConfig(path.join(dir, 'gramex.yaml')));
      expect(issues.map((i) => [i.path, i.message])).toEqual([
        ['import[0]', 'import cycle: gramex.yaml → gramex.yaml'],
        ['import[1]', 'import cycle: gramex.yaml → alias.yaml'],
      ]);
    });

    it('reports a file imported twice instead of loading its urls again', async () => {
      const dir = tree({
        'gramex.yaml': 'import: [a.yaml, b.yaml]\n',
        'a.yaml': 'import: common.yaml\n',
        'b.yaml': 'import: common.yaml\n',
        'common.yaml': app('common'),
      });
      expect(await issuesOf(loadConfig(path.join(dir, 'gramex.yaml')))).toEqual([
        {
          path: 'import',
          file: path.join(dir, 'b.yaml'),
          message: `${path.join(dir, 'common.yaml')} is already imported by ${path.join(dir, 'a.yaml')}`,
        },
      ]);
    });

    it('reports a url key defined in two files, naming both', async () => {
      const dir = tree({ 'gramex.yaml': `${app('chat')}import: app/gramex.yaml\n`, 'app/gramex.yaml': app('chat') });
      expect(await issuesOf(loadConfig(path.join(dir, 'gramex.yaml')))).toEqual([
        {
          path: 'url.chat',
          file: path.join(dir, 'app', 'gramex.yaml'),
          message: `duplicate url key "chat"; already defined in ${path.join(dir, 'gramex.yaml')}`,
        },
      ]);
    });

    it('reports malformed import entries and keys only the root config may set', async () => {
      const dir = tree({
        'gramex.yaml': 'import:\n  a: {path: a.yaml, YAMLURL: 3, namespace: x}\n  b: 42\n  c: {}\n  d: app.yaml\n',
        'app.yaml': 'listen: {port: 80}\nemail: {}\nauth: {}\n',
      });
      const root = path.join(dir, 'gramex.yaml');
      const sub = path.join(dir, 'app.yaml');
      expect(await issuesOf(loadConfig(root))).toEqual([
        { path: 'import.a.namespace', file: root, message: 'unknown import key; allowed: path, YAMLURL' },
        { path: 'import.a.YAMLURL', file: root, message: 'YAMLURL must be a string' },
        { path: 'import.b', file: root, message: 'an import must be a non-empty path or {path, YAMLURL}' },
        { path: 'import.c.path', file: root, message: 'path is required and must be a non-empty string' },
        { path: 'listen', file: sub, message: `listen is only allowed in the root config (${root})` },
        { path: 'email', file: sub, message: `email is only allowed in the root config (${root})` },
        { path: 'auth', file: sub, message: `auth is only allowed in the root config (${root})` },
      ]);
    });
  });

  describe('validation', () => {
    it('reports every issue in every file at once, each with its exact YAML path and file', async () => {
      const dir = tree({
        'gramex.yaml': `
url:
  nopattern: {handler: MessageHandler}
  relative: {pattern: chat, handler: MessageHandler}
  badregex: {pattern: '/x/(unclosed', handler: MessageHandler}
  nohandler: {pattern: /n}
  wronghandler: {pattern: /w, handler: MesageHandler}
  badkwargs: {pattern: /k, handler: MessageHandler, kwargs: [1], priority: high, cache: true}
  notamap: /just/a/string
  v1.0: {pattern: 5, handler: FileHandler}
listen: {port: 70000, host: '', backlog: 5}
modules: {util: missing.js, 2bad: util.js, list: [x]}
urls: {}
import: app/gramex.yaml
`,
        'app/gramex.yaml': "url:\n  typo: {pattern: /t, handler: MessageHandler, kwarg: {}}\nbroken: [\n",
      });
      const root = path.join(dir, 'gramex.yaml');
      const sub = path.join(dir, 'app', 'gramex.yaml');
      expect(await issuesOf(loadConfig(root))).toEqual([
        { path: 'url.nopattern.pattern', file: root, message: 'pattern is required' },
        { path: 'url.relative.pattern', file: root, message: 'pattern must start with / (a path) or ^ (a regular expression)' },
        {
          path: 'url.badregex.pattern',
          file: root,
          message: expect.stringMatching(/^invalid regular expression: .*Unterminated group/),
        },
        { path: 'url.nohandler.handler', file: root, message: 'handler is required' },
        { path: 'url.wronghandler.handler', file: root, message: 'unknown handler "MesageHandler"; known: MessageHandler, FileHandler' },
        { path: 'url.badkwargs.cache', file: root, message: 'unknown url entry key; allowed: pattern, handler, kwargs, priority' },
        { path: 'url.badkwargs.kwargs', file: root, message: 'kwargs must be a mapping' },
        { path: 'url.badkwargs.priority', file: root, message: 'priority must be a number' },
        { path: 'url.notamap', file: root, message: 'a url entry must be a mapping with pattern and handler' },
        { path: 'url["v1.0"].pattern', file: root, message: 'pattern must be a string' },
        { path: 'listen.backlog', file: root, message: 'unknown listen key; allowed: port, host' },
        { path: 'listen.port', file: root, message: 'port must be an integer from 1 to 65535' },
        { path: 'listen.host', file: root, message: 'host must be a non-empty string' },
        { path: 'modules.2bad', file: root, message: 'a module name must be an identifier: expressions refer to it by name' },
        { path: 'modules.list', file: root, message: 'a module must be a path to a JavaScript module file' },
        { path: 'urls', file: root, message: expect.stringMatching(/^unknown top-level key; allowed: url, import, modules, listen, email, auth\b/) },
        { path: '4:1', file: sub, message: expect.stringMatching(/^YAML syntax error: .*flow sequence/i) },
        { path: 'modules.util', file: root, message: `module file not found: ${path.join(dir, 'missing.js')}` },
      ]);
    });

    it('reports a YAML syntax error with its line and column', async () => {
      const dir = tree({ 'gramex.yaml': 'url:\n  a: {pattern: /a\n  b: 1\n' });
      const [issue, ...rest] = await issuesOf(loadConfig(path.join(dir, 'gramex.yaml')));
      expect(rest).toEqual([]);
      expect(issue!.path).toMatch(/^\d+:\d+$/);
      expect(issue!.message).toMatch(/^YAML syntax error: /);
      expect(issue!.message).not.toContain('\n');
    });

    it('reports duplicate keys and unresolved tags in a YAML file', async () => {
      const dir = tree({ 'gramex.yaml': 'url: {}\nurl: {}\nlisten: !!python/name:os.getcwd x\n' });
      const issues = await issuesOf(loadConfig(path.join(dir, 'gramex.yaml')));
      expect(issues.map((i) => i.path)).toEqual(['2:1', '3:9']);
      expect(issues[0]!.message).toMatch(/unique/);
      expect(issues[1]!.message).toMatch(/Unresolved tag/);
    });

    it('reports an unreadable root config as an issue', async () => {
      const dir = tree({});
      const file = path.join(dir, 'gramex.yaml');
      expect(await issuesOf(loadConfig(file))).toEqual([
        { path: '(root)', file, message: `Cannot read configuration file ${file}: ENOENT` },
      ]);
    });

    it('reports a document that is not a mapping', async () => {
      const dir = tree({ 'gramex.yaml': '- just\n- a list\n' });
      const file = path.join(dir, 'gramex.yaml');
      expect(await issuesOf(loadConfig(file))).toEqual([
        { path: '(root)', file, message: expect.stringMatching(/^the config must be a mapping of sections \(url, import, modules, listen, email, auth\b/) },
      ]);
    });

    it('accepts an empty file and empty sections', async () => {
      const dir = tree({ 'empty.yaml': '', 'blank.yaml': 'url:\nimport:\nmodules:\n' });
      for (const f of ['empty.yaml', 'blank.yaml']) {
        const config = await loadConfig(path.join(dir, f));
        expect(config).toMatchObject({ urls: [], listen: {}, modules: {}, sections: {} });
      }
    });

    it('accepts a decimal port string from an environment variable and a custom handler list', async () => {
      const config = await loadConfigObject(
        { listen: { port: '$PORT', host: '127.0.0.1' }, url: { x: { pattern: '/x', handler: 'Custom' } } },
        '/srv',
        { ...env, handlers: ['Custom'] },
      );
      expect(config.listen).toEqual({ port: 8123, host: '127.0.0.1' });
      expect(config.urls[0]!.handler).toBe('Custom');
    });

    it('resolves module files against the folder of the YAML that names them', async () => {
      const dir = tree({
        'gramex.yaml': 'modules: {top: lib/top.js}\nimport: app/gramex.yaml\n',
        'lib/top.js': 'export {}',
        'app/gramex.yaml': 'modules: {helpers: ./helpers.mjs}\n',
        'app/helpers.mjs': 'export {}',
      });
      const config = await loadConfig(path.join(dir, 'gramex.yaml'));
      expect(config.modules).toEqual({
        top: { file: path.join(dir, 'lib', 'top.js'), path: 'modules.top', source: path.join(dir, 'gramex.yaml') },
        helpers: { file: path.join(dir, 'app', 'helpers.mjs'), path: 'modules.helpers', source: path.join(dir, 'app', 'gramex.yaml') },
      });
    });

    it('adds the issues of handler validators to the same error, in file order, also for an entry with a bad pattern', async () => {
      const dir = tree({
        'gramex.yaml': 'url:\n  z: {pattern: /z, handler: FileHandler}\n  a: {pattern: "/a/(.*)", handler: FileHandler}\n  bad: {pattern: 1, handler: FileHandler}\n',
      });
      const file = path.join(dir, 'gramex.yaml');
      const validators = { FileHandler: async (e: { path: string }) => [{ path: `${e.path}.kwargs.path`, message: 'no path' }] };
      expect(await issuesOf(loadConfig(file, { validators }))).toEqual([
        { path: 'url.bad.pattern', file, message: 'pattern must be a string' },
        { path: 'url.z.kwargs.path', file, message: 'no path' },
        { path: 'url.a.kwargs.path', file, message: 'no path' },
        { path: 'url.bad.kwargs.path', file, message: 'no path' },
      ]);
    });
  });

  describe('result', () => {
    it('deep-freezes the whole config', async () => {
      const config = await loadConfigObject(
        {
          url: { a: { pattern: '/a', handler: 'MessageHandler', kwargs: { columns: { body: { type: 'TEXT' } }, list: [1] } } },
          email: { smtp: { type: 'smtp' } },
          listen: { port: 1 },
        },
        '/srv',
      );
      expect(Object.isFrozen(config)).toBe(true);
      expect(Object.isFrozen(config.urls)).toBe(true);
      expect(Object.isFrozen(config.urls[0]!.kwargs.columns)).toBe(true);
      expect(Object.isFrozen(config.urls[0]!.kwargs.list)).toBe(true);
      expect(Object.isFrozen(config.sections.email!.value)).toBe(true);
      expect(Object.isFrozen(config.listen)).toBe(true);
      expect(() => {
        (config.urls[0]!.kwargs as Record<string, unknown>).table = 'x';
      }).toThrow(TypeError);
    });

    it('lists urls in match order: priority, exact before regex, longer prefix, then file order', async () => {
      const dir = tree({
        'gramex.yaml': `
url:
  catchall: {pattern: '/(.*)', handler: FileHandler}
  api: {pattern: '/api/(.*)', handler: MessageHandler}
  exact: {pattern: /api/chat, handler: MessageHandler}
  urgent: {pattern: '/(.*)', handler: FileHandler, priority: 2}
import: app/gramex.yaml
`,
        'app/gramex.yaml': "url:\n  imported: {pattern: '/(.*)', handler: FileHandler}\n",
      });
      const config = await loadConfig(path.join(dir, 'gramex.yaml'));
      expect(config.urls.map((u) => u.name)).toEqual(['urgent', 'exact', 'api', 'catchall', 'imported']);
    });

    it('passes email and auth through verbatim after variable expansion, with their file', async () => {
      const dir = tree({ 'gramex.yaml': 'email:\n  gmail: {type: gmail, password: $PORT}\nauth: [anything, goes]\n' });
      const file = path.join(dir, 'gramex.yaml');
      const config = await loadConfig(file, env);
      expect(config.sections).toEqual({
        email: { value: { gmail: { type: 'gmail', password: '8123' } }, path: 'email', file, yamlPath: dir },
        auth: { value: ['anything', 'goes'], path: 'auth', file, yamlPath: dir },
      });
      expect(config.file).toBe(file);
    });
  });
});

describe('loadConfigObject', () => {
  it('uses baseDir as $YAMLPATH and for imports, and leaves the given object untouched', async () => {
    const dir = tree({ 'app/gramex.yaml': 'url:\n  b: {pattern: /$YAMLURL/b, handler: MessageHandler}\n' });
    const hook = (): void => undefined;
    const input = { url: { a: { pattern: '/a', handler: 'MessageHandler', kwargs: { db: '$YAMLPATH/x.db', prepare: hook } } }, import: 'app/gramex.yaml' };
    const config = await loadConfigObject(input, dir);
    const [a, b] = ['a', 'b'].map((name) => config.urls.find((u) => u.name === name)!);
    expect(b!.pattern).toBe('/app/b');
    expect(a!.kwargs.db).toBe(`${dir}/x.db`);
    expect(a!.kwargs.prepare).toBe(hook);
    expect(Object.isFrozen(hook)).toBe(false);
    expect(Object.isFrozen(input.url.a)).toBe(false);
    expect(input.url.a.kwargs.db).toBe('$YAMLPATH/x.db');
    expect(config.file).toBe(path.join(dir, '<object>'));
  });

  it('reports a circular reference instead of looping', async () => {
    const kwargs: Record<string, unknown> = {};
    kwargs.self = kwargs;
    const issues = await issuesOf(loadConfigObject({ url: { a: { pattern: '/a', handler: 'MessageHandler', kwargs } } }, '/srv'));
    expect(issues).toEqual([{ path: 'url.a.kwargs.self', file: path.join('/srv', '<object>'), message: 'circular reference' }]);
  });

  it('keeps a __proto__ key as data', async () => {
    const dir = tree({ 'gramex.yaml': 'url:\n  a: {pattern: /a, handler: MessageHandler, kwargs: {__proto__: {polluted: true}}}\n' });
    const config = await loadConfig(path.join(dir, 'gramex.yaml'));
    expect(Object.keys(config.urls[0]!.kwargs)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
