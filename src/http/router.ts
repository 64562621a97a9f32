/**
 * @module http/router
 * Matches a request path to a `url:` entry.
 *
 * As in Gramex (Tornado), a pattern is a regular expression anchored at both ends, so `/$YAMLURL/(.*)` serves
 * a folder and `/chat` matches only `/chat`. Patterns are matched against the raw (still percent-encoded)
 * pathname, as Tornado does, and captured groups are percent-decoded before handlers see them. Python's
 * named-group syntax `(?P<name>…)` is accepted and read as `(?<name>…)`.
 *
 * Match order, first match wins:
 * 1. higher `priority` first;
 * 2. exact paths (no regex metacharacters besides a leading `^` / trailing `$`) before regexes;
 * 3. longer literal prefix first (`/api/users/(.*)` before `/api/(.*)`);
 * 4. file order (the order `loadConfig` found the entries).
 * Note that `.` is a metacharacter: write `/favicon\.ico` for an exact path.
 */

import type { ConfigIssue } from '../errors.js';
import type { UrlEntry } from '../config/load.js';

/** The entry a path matched, and its percent-decoded capture groups ('' for a group that did not take part). */
export interface RouteMatch {
  entry: UrlEntry;
  groups: string[];
}

/** A compiled, ordered route table. */
export interface Router {
  /** Entries in match order. */
  readonly entries: readonly UrlEntry[];
  /**
   * The first entry whose pattern matches the whole `pathname` (no query string), or null. A captured group
   * with malformed percent-encoding (`%zz`) makes the path match nothing, so it cannot fall through to a
   * catch-all route with a different meaning.
   */
  match(pathname: string): RouteMatch | null;
}

/** What ordering needs to know about a pattern. */
export interface PatternShape {
  /** True when the pattern matches exactly one path. */
  exact: boolean;
  /** The literal text the pattern starts with (escapes resolved), e.g. `/api/` for `/api/(.*)`. */
  literalPrefix: string;
}

const META = new Set([...'\\^$.|?*+()[]{}']);

/** Reads the literal prefix of a pattern and whether the whole pattern is literal. */
export function analysePattern(pattern: string): PatternShape {
  let body = pattern.startsWith('^') ? pattern.slice(1) : pattern;
  if (endsWithAnchor(body)) body = body.slice(0, -1);
  let literalPrefix = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch === '\\') {
      const next = body[i + 1];
      // `\.` is a literal dot; `\d`, `\w`, `\1`, `\b` are classes, references or assertions.
      if (next === undefined || /[A-Za-z0-9]/.test(next)) return { exact: false, literalPrefix };
      literalPrefix += next;
      i++;
    } else if (META.has(ch)) {
      return { exact: false, literalPrefix };
    } else {
      literalPrefix += ch;
    }
  }
  return { exact: true, literalPrefix };
}

function endsWithAnchor(body: string): boolean {
  if (!body.endsWith('$')) return false;
  let backslashes = 0;
  for (let i = body.length - 2; i >= 0 && body[i] === '\\'; i--) backslashes++;
  return backslashes % 2 === 0;
}

/** Compiles a pattern into a regex anchored at both ends. Throws SyntaxError for an invalid pattern. */
export function compilePattern(pattern: string): RegExp {
  // The group keeps `a|b` from binding looser than the anchors.
  return new RegExp(`^(?:${pattern.replace(/(?<!\\)\(\?P</g, '(?<')})$`);
}

/**
 * Checks that a pattern compiles. Returns an issue at `path` (e.g. `url.chat.pattern`) or null; the caller adds
 * the file.
 */
export function validatePattern(pattern: string, path: string): ConfigIssue | null {
  try {
    compilePattern(pattern);
    return null;
  } catch (err) {
    return { path, message: `invalid regular expression: ${(err as Error).message}` };
  }
}

/** Orders entries for matching (see the module comment). Stable: ties keep their given order. */
export function sortRoutes<T extends Pick<UrlEntry, 'pattern' | 'priority'>>(entries: readonly T[]): T[] {
  const keyed = entries.map((entry, index) => ({ entry, index, shape: analysePattern(entry.pattern) }));
  keyed.sort(
    (a, b) =>
      b.entry.priority - a.entry.priority ||
      Number(b.shape.exact) - Number(a.shape.exact) ||
      b.shape.literalPrefix.length - a.shape.literalPrefix.length ||
      a.index - b.index,
  );
  return keyed.map((k) => k.entry);
}

/** Builds a router. Entries are validated at load, so an invalid pattern here is a programming error and throws. */
export function compileRoutes(entries: readonly UrlEntry[]): Router {
  const ordered = sortRoutes(entries);
  const table = ordered.map((entry) => ({ entry, regex: compilePattern(entry.pattern) }));
  return {
    entries: Object.freeze(ordered),
    match(pathname: string): RouteMatch | null {
      for (const { entry, regex } of table) {
        const m = regex.exec(pathname);
        if (!m) continue;
        const groups: string[] = [];
        for (const raw of m.slice(1)) {
          try {
            groups.push(raw === undefined ? '' : decodeURIComponent(raw));
          } catch {
            return null;
          }
        }
        return { entry, groups };
      }
      return null;
    },
  };
}
