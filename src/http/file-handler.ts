/**
 * @module http/file-handler
 * FileHandler: serves one file, or the files in one folder, over GET and HEAD, resumable: a `Range` gets 206 and
 * that part (`Accept-Ranges: bytes`, ETag, `If-Range`, 416 past the end; http/send-file).
 *
 * ```yaml
 * url:
 *   static:
 *     pattern: /$YAMLURL/static/(.*)   # the first capture group is the path inside the folder
 *     handler: FileHandler
 *     kwargs:
 *       path: $YAMLPATH/static         # a file or a folder; relative paths resolve against $YAMLPATH
 *       index: index.html              # served for a folder; false serves no index (default index.html)
 *       headers: {Cache-Control: 'max-age=60'}
 *       ignore: ['.*', 'gramex*.yaml']  # names never served (default DEFAULT_IGNORE)
 * ```
 *
 * Security is the point of this module. A request can only reach regular files under the configured folder:
 * `.`/`..` segments, backslashes, NUL bytes, empty segments and absolute paths are refused with 403 (the router
 * has already percent-decoded the group, so `%2e%2e` and `%2f` are caught too), and a symlink whose target lies
 * outside the folder is answered 404 as if it did not exist. There is no directory listing.
 *
 * Whatever `ignore:` says, the SQLite databases the config names (with their `-wal`, `-shm`, `-journal`, …
 * side files) and the config's own YAML and module files are never served: they are answered 404 like a
 * missing file, matched by real path (see http/hidden-files).
 */

import { statSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import { catalog, ConfigError, formatMessage, type ConfigIssue } from '../errors.js';
import type { AppConfig, UrlEntry } from '../config/load.js';
import { isPlainObject } from '../config/freeze.js';
import { joinPath } from '../config/path.js';
import { HiddenFiles, hiddenPaths } from './hidden-files.js';
import { sendText } from './respond.js';
import { sendFile } from './send-file.js';

/** Signature of a handler the HTTP layer calls with the router's decoded capture groups. */
export type HttpHandler = (req: http.IncomingMessage, res: http.ServerResponse, groups: string[]) => Promise<void>;

/**
 * Names never served from a folder unless `ignore:` says otherwise: dotfiles and dot-folders (`.env`, `.git`),
 * Gramex configs, and SQLite files with their side files (`-wal`, `-shm`, `-journal`), because the common
 * `/$YAMLURL/(.*)` → `$YAMLPATH` mapping would otherwise publish the app's config and its message database.
 * Matched case-insensitively against every path segment. (The config's own databases and files are hidden by
 * real path whatever this says: these patterns catch the other SQLite files lying around.)
 */
export const DEFAULT_IGNORE: readonly string[] = Object.freeze([
  '.*',
  'gramex*.yaml',
  '*.db',
  '*.db-*',
  '*.sqlite',
  '*.sqlite-*',
  '*.sqlite3',
  '*.sqlite3-*',
  '*.db3',
  '*.db3-*',
  '*-journal',
  '*-wal',
  '*-shm',
]);

/** Default `index:`. */
export const DEFAULT_INDEX = 'index.html';

const KWARGS = ['path', 'index', 'headers', 'ignore'];
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const ALLOW = 'GET, HEAD';

/** Checks a FileHandler entry's kwargs. Returns every issue, each with its YAML path and the entry's file. */
export function validateFileHandler(entry: UrlEntry): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const base = joinPath(entry.path, 'kwargs');
  const at = (...steps: (string | number)[]): string => steps.reduce<string>(joinPath, base);
  const add = (where: string, message: string): void => {
    issues.push({ path: where, message, file: entry.file });
  };
  const kwargs = entry.kwargs;
  for (const key of Object.keys(kwargs)) {
    // `auth` and friends are refused rather than ignored: a silently unprotected folder is the worst outcome.
    if (!KWARGS.includes(key)) add(at(key), `unknown FileHandler kwarg; allowed: ${KWARGS.join(', ')}`);
  }
  if (typeof kwargs.path !== 'string' || kwargs.path === '') {
    add(at('path'), 'path is required: the file or folder to serve');
  } else {
    const target = path.resolve(entry.yamlPath, kwargs.path);
    try {
      const s = statSync(target);
      if (!s.isFile() && !s.isDirectory()) add(at('path'), `${target} is neither a file nor a folder`);
    } catch {
      add(at('path'), `path does not exist: ${target}`);
    }
  }
  const index = kwargs.index;
  if (index !== undefined && index !== false) {
    if (typeof index !== 'string' || index === '' || index === '.' || index === '..' || /[/\\\0]/.test(index)) {
      add(at('index'), 'index must be a file name (no slashes) or false');
    }
  }
  if (kwargs.headers !== undefined) {
    if (!isPlainObject(kwargs.headers)) add(at('headers'), 'headers must be a mapping of header name: value');
    else {
      for (const [name, value] of Object.entries(kwargs.headers)) {
        const where = at('headers', name);
        if (!HEADER_NAME.test(name)) add(where, 'not a valid HTTP header name');
        else if ((typeof value !== 'string' && typeof value !== 'number') || /[\r\n\0]/.test(String(value))) {
          add(where, 'a header value must be a string or number without line breaks');
        }
      }
    }
  }
  if (kwargs.ignore !== undefined) {
    if (!Array.isArray(kwargs.ignore)) add(at('ignore'), 'ignore must be a list of file name patterns');
    else {
      kwargs.ignore.forEach((glob, i) => {
        if (typeof glob !== 'string' || glob === '') add(at('ignore', i), 'an ignore pattern must be a non-empty string');
      });
    }
  }
  return issues;
}

interface Options {
  root: string;
  index: string | false;
  headers: Record<string, string>;
  ignore: RegExp[];
  hidden: HiddenFiles;
}

/** What a request path resolves to. */
type Target =
  | { kind: 'file'; file: string }
  | { kind: 'redirect'; location: string }
  | { kind: 'forbidden' }
  | { kind: 'missing' };

/**
 * Creates the request handler for one FileHandler entry. Throws {@link ConfigError} if the kwargs are invalid.
 * The returned function never rejects: failures become a plain-text 500 (or a dropped connection mid-body).
 * `app` is the whole loaded config: its SQLite databases (and their side files) and its config files are never
 * served. Without it only the entry's own YAML file and kwargs are known, so a service always passes it.
 */
export function createFileHandler(entry: UrlEntry, app?: AppConfig): HttpHandler {
  const issues = validateFileHandler(entry);
  if (issues.length > 0) throw new ConfigError(issues);
  const k = entry.kwargs;
  const headers: Record<string, string> = {};
  // Lower-case names so a user's `content-type` replaces ours instead of being sent alongside it.
  for (const [name, value] of Object.entries((k.headers as Record<string, unknown>) ?? {})) {
    headers[name.toLowerCase()] = String(value);
  }
  const options: Options = {
    root: path.resolve(entry.yamlPath, k.path as string),
    index: (k.index as string | false | undefined) ?? DEFAULT_INDEX,
    headers,
    ignore: ((k.ignore as string[] | undefined) ?? DEFAULT_IGNORE).map(globToRegex),
    hidden: new HiddenFiles(hiddenPaths(entry, app)),
  };

  return async (req, res, groups) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendText(res, 405, formatMessage(catalog.MH_ERR_HTTP_METHOD.message, [req.method]), { Allow: ALLOW });
        return;
      }
      const target = await locateVisible(options, groups[0] ?? '');
      if (target.kind === 'file') await serveFile(req, res, target.file, options);
      else if (target.kind === 'redirect') {
        const query = req.url?.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
        sendText(res, 301, 'Moved Permanently', { Location: target.location + query });
      } else if (target.kind === 'forbidden') sendText(res, 403, 'Forbidden');
      else sendText(res, 404, 'Not Found');
    } catch {
      if (!res.headersSent) sendText(res, 500, catalog.MH_ERR_INTERNAL.message);
      else res.destroy();
    }
  };
}

/** Maps the decoded path inside the folder to a file, refusing anything that could leave the folder. */
async function locate(options: Options, rel: string): Promise<Target> {
  const rootStat = await stat(options.root).catch(() => null);
  if (rootStat?.isFile()) return { kind: 'file', file: options.root };
  if (!rootStat?.isDirectory()) return { kind: 'missing' };

  const segments = rel.split('/');
  const isDirRequest = rel === '' || rel.endsWith('/');
  const parts = isDirRequest ? segments.slice(0, -1) : segments;
  if (
    /[\\\0]/.test(rel) ||
    path.isAbsolute(rel) ||
    /^[A-Za-z]:/.test(rel) ||
    parts.some((p) => p === '' || p === '.' || p === '..')
  ) {
    return { kind: 'forbidden' };
  }
  if (parts.some((p) => options.ignore.some((re) => re.test(p)))) return { kind: 'missing' };

  const realRoot = await realpath(options.root);
  const real = await contained(realRoot, path.join(options.root, ...parts));
  if (real === null) return { kind: 'missing' };
  const s = await stat(real);
  if (s.isDirectory()) {
    // Redirect `/static/docs` to `/static/docs/` so relative links in the index resolve inside the folder.
    // A relative `./name/` Location cannot point at another host, whatever the request path held.
    if (!isDirRequest) return { kind: 'redirect', location: `./${encodeURIComponent(parts.at(-1)!)}/` };
    if (options.index === false) return { kind: 'missing' };
    const index = await contained(realRoot, path.join(real, options.index));
    if (index === null || !(await stat(index)).isFile()) return { kind: 'missing' };
    return { kind: 'file', file: index };
  }
  if (!s.isFile() || isDirRequest) return { kind: 'missing' };
  return { kind: 'file', file: real };
}

/** {@link locate}, then hides the config's databases and files as if they did not exist. */
async function locateVisible(options: Options, rel: string): Promise<Target> {
  const target = await locate(options, rel);
  if (target.kind === 'file' && (await options.hidden.hides(target.file))) return { kind: 'missing' };
  return target;
}

/** The real path of `candidate` if it exists and lies inside `realRoot` (after resolving symlinks), else null. */
async function contained(realRoot: string, candidate: string): Promise<string | null> {
  const real = await realpath(candidate).catch(() => null);
  if (real === null) return null;
  const rel = path.relative(realRoot, real);
  if (rel === '..' || rel.startsWith('..' + path.sep) || path.isAbsolute(rel)) return null;
  return real;
}

/**
 * Streams the located file with `send` (http/send-file): Range (206, `Accept-Ranges`, `If-Range`, 416), ETag,
 * Last-Modified, 304 for If-None-Match (which decides alone) or If-Modified-Since, and HEAD. The file was checked
 * (inside the folder, regular, not hidden) by locateVisible; it is opened with O_NOFOLLOW all the same.
 */
function serveFile(req: http.IncomingMessage, res: http.ServerResponse, file: string, options: Options): Promise<void> {
  return sendFile(req, res, file, { headers: options.headers });
}

function globToRegex(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  // Case-insensitive: on macOS and Windows `GRAMEX.YAML` is the same file as `gramex.yaml`.
  return new RegExp(`^${body}$`, 'i');
}
