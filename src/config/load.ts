/**
 * @module config/load
 * `gramex.yaml` → a validated, frozen {@link AppConfig}.
 *
 * Loading follows rule 8 of the design: read every file, expand variables, check every section, collect every
 * problem with its YAML path and file, then throw one {@link ConfigError} or return a deep-frozen config. The
 * shape of each url entry is checked here; handler-specific kwargs are checked by the handler's own validator
 * (pass them as `options.validators` to have their issues reported in the same error).
 *
 * A problem never hides another: {@link inspectConfig} returns the usable part of a broken config together with
 * its issues, so a caller that checks more (the service compiles kwargs, `email:`, `auth:`) reports everything in
 * one run. An entry whose routing keys are broken (no `pattern`, a bad `priority`, an unknown key) is left out of
 * `urls` but still offered in `checkable`, so its kwargs are checked too.
 */

import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { sortRoutes, validatePattern } from '../http/router.js';
import { deepFreeze, isPlainObject } from './freeze.js';
import { childYamlUrl, parseImports, resolveImport, type ImportSpec } from './imports.js';
import { joinPath, ROOT_PATH } from './path.js';
import { expandVars } from './vars.js';
import { readYamlFile } from './yaml-file.js';

/** One `url:` entry, variables expanded. */
export interface UrlEntry {
  /** The url key. MessageHandler uses it as the broadcast channel name. */
  name: string;
  /** After variable expansion, with runs of `/` collapsed to one. */
  pattern: string;
  /** As written, e.g. `MessageHandler` or `FileHandler`. */
  handler: string;
  /** Variables expanded in every string value, recursively; otherwise verbatim. `{}` when omitted. */
  kwargs: Record<string, unknown>;
  /** Higher matches first. Default 0. */
  priority: number;
  /** YAML path of the entry, e.g. `url.comments`: prefix for the entry's own issues. */
  path: string;
  /** Absolute path of the YAML file that defined the entry. */
  file: string;
  /** Absolute folder of that file (`$YAMLPATH`). */
  yamlPath: string;
  /** `$YAMLURL` of that file ('' at the site root, or when undefined for a file outside the root folder). */
  yamlUrl: string;
}

/** A known top-level section passed through for another module to validate. */
export interface ConfigSection {
  value: unknown;
  path: string;
  file: string;
  yamlPath: string;
}

/** The whole loaded configuration. Deep-frozen. */
export interface AppConfig {
  /** Absolute path of the root config. */
  file: string;
  /** In match order (see `http/router`). */
  urls: UrlEntry[];
  listen: { port?: number; host?: string };
  /**
   * Module name → absolute module file (relative paths resolve against their YAML's folder), YAML path, and the
   * YAML file that declared it (`source`).
   */
  modules: Record<string, { file: string; path: string; source: string }>;
  /** Other known top-level sections (`email`, `auth`, `trust_proxy`, `bus`, `metrics`, `health`), verbatim after variable expansion. */
  sections: Record<string, ConfigSection>;
}

/** Checks one url entry's handler-specific kwargs. Issues without a `file` get the entry's file. */
export type HandlerValidator = (entry: UrlEntry) => readonly ConfigIssue[] | Promise<readonly ConfigIssue[]>;

export interface LoadOptions {
  /** Environment for `$NAME` references. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Known handler names. Default {@link DEFAULT_HANDLERS}. */
  handlers?: readonly string[];
  /** Handler name → validator, run on each entry of that handler whose kwargs are a mapping. Default none. */
  validators?: Readonly<Record<string, HandlerValidator>>;
}

/** Handler names accepted when `options.handlers` is not given. */
export const DEFAULT_HANDLERS: readonly string[] = Object.freeze(['MessageHandler', 'FileHandler']);

const TOP_KEYS = ['url', 'import', 'modules', 'listen', 'email', 'auth', 'trust_proxy', 'bus', 'metrics', 'health'];
/** Sections that configure the whole server, so only the root config may set them. */
const ROOT_ONLY = new Set(['listen', 'email', 'auth', 'trust_proxy', 'bus', 'metrics', 'health']);
const URL_KEYS = ['pattern', 'handler', 'kwargs', 'priority'];
const LISTEN_KEYS = ['port', 'host'];
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** What one load found: the usable part of the config, and every issue (empty when the config is valid). */
export interface LoadResult {
  /** Deep-frozen. With issues, it holds only what is well formed (a broken url entry is not in `urls`). */
  config: AppConfig;
  /**
   * Every url entry whose handler and kwargs can be checked, in file order: those in `config.urls` and those
   * left out of it only because of a routing problem (their `pattern` is then ''). For reporting, not routing.
   */
  checkable: readonly UrlEntry[];
  issues: readonly ConfigIssue[];
}

/**
 * Loads a root config file and everything it imports. Throws {@link ConfigError} listing every issue found
 * (including an unreadable file or a YAML syntax error, reported with `line:column`).
 */
export async function loadConfig(file: string, options: LoadOptions = {}): Promise<AppConfig> {
  return orThrow(await inspectConfig(file, options));
}

/**
 * Loads a config given as an object (an embedding app's config). `$YAMLPATH` is `baseDir`, imports resolve
 * against it, and issues name the virtual file `<baseDir>/<object>`. The object is copied, never modified.
 */
export async function loadConfigObject(obj: unknown, baseDir: string, options: LoadOptions = {}): Promise<AppConfig> {
  return orThrow(await inspectConfigObject(obj, baseDir, options));
}

/** Like {@link loadConfig}, but returns the issues with whatever could be loaded instead of throwing. */
export async function inspectConfig(file: string, options: LoadOptions = {}): Promise<LoadResult> {
  const absolute = path.resolve(file);
  const { value, issues } = await readYamlFile(absolute);
  // An unreadable or unparsable root leaves nothing else to check.
  if (issues.length > 0) return { config: emptyConfig(absolute), checkable: [], issues };
  const real = await realpath(absolute).catch(() => absolute);
  return new Loader(absolute, options).run(value, real);
}

/** Like {@link loadConfigObject}, but returns the issues with whatever could be loaded instead of throwing. */
export function inspectConfigObject(obj: unknown, baseDir: string, options: LoadOptions = {}): Promise<LoadResult> {
  const file = path.join(path.resolve(baseDir), '<object>');
  return new Loader(file, options).run(obj, file);
}

function orThrow({ config, issues }: LoadResult): AppConfig {
  if (issues.length > 0) throw new ConfigError(issues);
  return config;
}

function emptyConfig(file: string): AppConfig {
  return deepFreeze({ file, urls: [], listen: {}, modules: {}, sections: {} });
}

interface FileContext {
  file: string;
  yamlPath: string;
  yamlUrl: string | undefined;
  isRoot: boolean;
  /** Real paths of the files importing this one, root first, ending with this one: for cycle detection. */
  chain: { real: string; file: string }[];
}

/** Mutable state of one load. Everything it collects is frozen before it leaves {@link Loader.run}. */
class Loader {
  readonly #root: string;
  readonly #env: Record<string, string | undefined>;
  readonly #handlers: readonly string[];
  readonly #validators: Readonly<Record<string, HandlerValidator>>;
  readonly #issues: ConfigIssue[] = [];
  readonly #urls: UrlEntry[] = [];
  /** Every entry whose kwargs can be checked, routable or not, in file order. */
  readonly #checkable: UrlEntry[] = [];
  readonly #urlOwner = new Map<string, string>();
  readonly #modules: AppConfig['modules'] = {};
  readonly #moduleOwner = new Map<string, string>();
  readonly #moduleChecks: Promise<ConfigIssue | null>[] = [];
  readonly #listen: AppConfig['listen'] = {};
  readonly #sections: AppConfig['sections'] = {};
  /** Real path → the file that first imported it, so a file imported twice is reported once, clearly. */
  readonly #loaded = new Map<string, string>();

  constructor(rootFile: string, options: LoadOptions) {
    this.#root = rootFile;
    this.#env = options.env ?? process.env;
    this.#handlers = options.handlers ?? DEFAULT_HANDLERS;
    this.#validators = options.validators ?? {};
  }

  async run(value: unknown, rootReal: string): Promise<LoadResult> {
    const yamlPath = path.dirname(this.#root);
    this.#loaded.set(rootReal, this.#root);
    const chain = [{ real: rootReal, file: this.#root }];
    await this.#loadFile(value, { file: this.#root, yamlPath, yamlUrl: '', isRoot: true, chain });
    for (const issue of await Promise.all(this.#moduleChecks)) if (issue) this.#issues.push(issue);
    const urls = deepFreeze(sortRoutes(this.#urls));
    const checkable = deepFreeze(this.#checkable);
    await this.#runValidators(checkable);
    const config = deepFreeze({
      file: this.#root,
      urls,
      listen: this.#listen,
      modules: this.#modules,
      sections: this.#sections,
    });
    return { config, checkable, issues: this.#issues };
  }

  #issue(file: string, issuePath: string, message: string): void {
    this.#issues.push({ path: issuePath, message, file });
  }

  async #loadFile(raw: unknown, ctx: FileContext): Promise<void> {
    const { file } = ctx;
    const vars = { yamlPath: ctx.yamlPath, yamlUrl: ctx.yamlUrl, env: this.#env, file };
    const data = expandVars(raw, vars, '', this.#issues);
    if (data === null || data === undefined) return;
    if (!isPlainObject(data)) {
      this.#issue(file, ROOT_PATH, `the config must be a mapping of sections (${TOP_KEYS.join(', ')})`);
      return;
    }
    for (const [key, value] of Object.entries(data)) {
      if (!TOP_KEYS.includes(key)) {
        this.#issue(file, joinPath('', key), `unknown top-level key; allowed: ${TOP_KEYS.join(', ')}`);
      } else if (ROOT_ONLY.has(key) && !ctx.isRoot) {
        this.#issue(file, key, `${key} is only allowed in the root config (${this.#root})`);
      } else if (key === 'url') {
        this.#addUrls(value, ctx);
      } else if (key === 'modules') {
        this.#addModules(value, ctx);
      } else if (key === 'listen') {
        this.#setListen(value, file);
      } else if (key === 'email' || key === 'auth' || key === 'trust_proxy' || key === 'bus' || key === 'metrics' || key === 'health') {
        this.#sections[key] = { value, path: key, file, yamlPath: ctx.yamlPath };
      }
    }
    // Imports come after the file's own entries, so on equal footing the importing file's routes match first.
    for (const spec of parseImports(data.import, file, this.#issues)) await this.#import(spec, ctx);
  }

  async #import(spec: ImportSpec, parent: FileContext): Promise<void> {
    const files = await resolveImport(spec, parent.yamlPath);
    if (typeof files === 'string') {
      this.#issue(parent.file, spec.issuePath, files);
      return;
    }
    for (const file of files) {
      const real = await realpath(file).catch(() => file);
      const at = parent.chain.findIndex((link) => link.real === real);
      if (at >= 0) {
        const loop = [...parent.chain.slice(at).map((link) => link.file), file].map((f) => this.#display(f));
        this.#issue(parent.file, spec.issuePath, `import cycle: ${loop.join(' → ')}`);
        continue;
      }
      const first = this.#loaded.get(real);
      if (first !== undefined) {
        this.#issue(parent.file, spec.issuePath, `${file} is already imported by ${first}`);
        continue;
      }
      this.#loaded.set(real, parent.file);
      const { value, issues } = await readYamlFile(file);
      this.#issues.push(...issues);
      if (issues.length > 0) continue;
      const yamlPath = path.dirname(file);
      await this.#loadFile(value, {
        file,
        yamlPath,
        yamlUrl: spec.yamlUrl ?? childYamlUrl(parent.yamlUrl, parent.yamlPath, yamlPath),
        isRoot: false,
        chain: [...parent.chain, { real, file }],
      });
    }
  }

  /** Paths in messages are shown relative to the root config's folder when inside it, for brevity. */
  #display(file: string): string {
    const rel = path.relative(path.dirname(this.#root), file);
    return rel.startsWith('..') || path.isAbsolute(rel) ? file : rel;
  }

  #addUrls(value: unknown, ctx: FileContext): void {
    if (value === null || value === undefined) return;
    if (!isPlainObject(value)) {
      this.#issue(ctx.file, 'url', 'url must be a mapping of name: {pattern, handler, kwargs}');
      return;
    }
    for (const [name, spec] of Object.entries(value)) {
      const entryPath = joinPath('url', name);
      const entry = this.#buildEntry(name, spec, entryPath, ctx);
      const owner = this.#urlOwner.get(name);
      if (owner !== undefined) {
        this.#issue(ctx.file, entryPath, `duplicate url key "${name}"; already defined in ${owner}`);
        continue;
      }
      this.#urlOwner.set(name, ctx.file);
      if (entry?.routable) this.#urls.push(entry.entry);
      if (entry) this.#checkable.push(entry.entry);
    }
  }

  /**
   * Checks one url entry's shape. Returns null (with issues recorded) when neither routing nor kwargs can be
   * used; `routable: false` when only routing is broken, so the handler can still check the kwargs.
   */
  #buildEntry(name: string, spec: unknown, entryPath: string, ctx: FileContext): { entry: UrlEntry; routable: boolean } | null {
    const { file } = ctx;
    if (!isPlainObject(spec)) {
      this.#issue(file, entryPath, 'a url entry must be a mapping with pattern and handler');
      return null;
    }
    const before = this.#issues.length;
    for (const key of Object.keys(spec)) {
      if (!URL_KEYS.includes(key)) {
        this.#issue(file, joinPath(entryPath, key), `unknown url entry key; allowed: ${URL_KEYS.join(', ')}`);
      }
    }
    const pattern = this.#checkPattern(spec.pattern, joinPath(entryPath, 'pattern'), file);
    const handler = spec.handler;
    const handlerPath = joinPath(entryPath, 'handler');
    const knownHandler = typeof handler === 'string' && this.#handlers.includes(handler);
    if (handler === undefined) this.#issue(file, handlerPath, 'handler is required');
    else if (!knownHandler) {
      this.#issue(file, handlerPath, `unknown handler ${JSON.stringify(handler)}; known: ${this.#handlers.join(', ')}`);
    }
    const kwargs = spec.kwargs ?? {};
    const kwargsOk = isPlainObject(kwargs);
    if (!kwargsOk) this.#issue(file, joinPath(entryPath, 'kwargs'), 'kwargs must be a mapping');
    const priority = spec.priority ?? 0;
    if (typeof priority !== 'number' || !Number.isFinite(priority)) {
      this.#issue(file, joinPath(entryPath, 'priority'), 'priority must be a number');
    }
    // Without a known handler nobody can say what the kwargs mean; without a mapping there is nothing to check.
    if (!knownHandler || !kwargsOk) return null;
    const entry: UrlEntry = {
      name,
      pattern: pattern ?? '',
      handler: handler as string,
      kwargs: kwargs as Record<string, unknown>,
      priority: typeof priority === 'number' && Number.isFinite(priority) ? priority : 0,
      path: entryPath,
      file,
      yamlPath: ctx.yamlPath,
      yamlUrl: ctx.yamlUrl ?? '',
    };
    return { entry, routable: this.#issues.length === before && pattern !== null };
  }

  /** Returns the collapsed pattern, or null after recording why it is unusable. */
  #checkPattern(pattern: unknown, issuePath: string, file: string): string | null {
    if (pattern === undefined) {
      this.#issue(file, issuePath, 'pattern is required');
      return null;
    }
    if (typeof pattern !== 'string') {
      this.#issue(file, issuePath, 'pattern must be a string');
      return null;
    }
    // `/$YAMLURL/x` at the site root expands to `//x`; collapsing here (and only here) keeps kwargs such as
    // `sqlite:////abs/x.db` intact.
    const collapsed = pattern.replace(/\/{2,}/g, '/');
    if (!collapsed.startsWith('/') && !collapsed.startsWith('^')) {
      this.#issue(file, issuePath, 'pattern must start with / (a path) or ^ (a regular expression)');
      return null;
    }
    const invalid = validatePattern(collapsed, issuePath);
    if (invalid) {
      this.#issues.push({ ...invalid, file });
      return null;
    }
    return collapsed;
  }

  #addModules(value: unknown, ctx: FileContext): void {
    if (value === null || value === undefined) return;
    if (!isPlainObject(value)) {
      this.#issue(ctx.file, 'modules', 'modules must be a mapping of name: path to a JavaScript module');
      return;
    }
    for (const [name, spec] of Object.entries(value)) {
      const issuePath = joinPath('modules', name);
      const before = this.#issues.length;
      if (!IDENTIFIER.test(name)) {
        this.#issue(ctx.file, issuePath, 'a module name must be an identifier: expressions refer to it by name');
      }
      if (typeof spec !== 'string' || spec === '') {
        this.#issue(ctx.file, issuePath, 'a module must be a path to a JavaScript module file');
      }
      const owner = this.#moduleOwner.get(name);
      if (owner !== undefined) {
        this.#issue(ctx.file, issuePath, `duplicate module "${name}"; already defined in ${owner}`);
      }
      if (this.#issues.length > before) continue;
      const file = path.resolve(ctx.yamlPath, spec as string);
      this.#moduleOwner.set(name, ctx.file);
      this.#modules[name] = { file, path: issuePath, source: ctx.file };
      // Checked now so a typo in a module path fails at start-up, not on the first message that needs it.
      this.#moduleChecks.push(
        stat(file).then(
          (s) => (s.isFile() ? null : { path: issuePath, file: ctx.file, message: `${file} is not a file` }),
          () => ({ path: issuePath, file: ctx.file, message: `module file not found: ${file}` }),
        ),
      );
    }
  }

  #setListen(value: unknown, file: string): void {
    if (!isPlainObject(value)) {
      this.#issue(file, 'listen', 'listen must be a mapping with port and host');
      return;
    }
    for (const key of Object.keys(value)) {
      if (!LISTEN_KEYS.includes(key)) this.#issue(file, joinPath('listen', key), 'unknown listen key; allowed: port, host');
    }
    const { port, host } = value;
    if (port !== undefined) {
      // A decimal string is accepted because `port: $PORT` is the usual way to set it, and env values are text.
      const n = typeof port === 'string' && /^\d+$/.test(port) ? Number(port) : port;
      if (typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535) this.#listen.port = n;
      else this.#issue(file, 'listen.port', 'port must be an integer from 1 to 65535');
    }
    if (host !== undefined) {
      if (typeof host === 'string' && host !== '') this.#listen.host = host;
      else this.#issue(file, 'listen.host', 'host must be a non-empty string');
    }
  }

  async #runValidators(urls: readonly UrlEntry[]): Promise<void> {
    const results = await Promise.all(
      urls.map(async (entry) => {
        const validate = this.#validators[entry.handler];
        if (!validate) return [];
        try {
          return await validate(entry);
        } catch (err) {
          return [{ path: entry.path, message: `validation failed: ${(err as Error).message}` }];
        }
      }),
    );
    // `urls` is in file order, which is how an author reads the config.
    urls.forEach((entry, i) => {
      for (const issue of results[i]!) this.#issues.push({ ...issue, file: issue.file ?? entry.file });
    });
  }
}
