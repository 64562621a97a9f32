/**
 * @module config/vars
 * Variable expansion in config string values, Gramex style.
 *
 * - `$YAMLPATH` / `${YAMLPATH}`: absolute folder of the YAML file that contains the string.
 * - `$YAMLURL` / `${YAMLURL}`: that folder's URL path relative to the root config ('' for the root itself).
 * - `$NAME` / `${NAME}`: the environment variable NAME. An unset variable is a config issue, never a silent ''.
 * - `$$`: a literal `$` (as in Python's `string.Template`, which Gramex uses).
 * - Any other `$` (a regex anchor such as `^/api$`, `$5`, `${a.b}`) is kept as written.
 *
 * Names are `[A-Za-z_][A-Za-z0-9_]*` and the longest name wins: `$YAMLPATHX` is the variable `YAMLPATHX`;
 * write `${YAMLPATH}X` to mean the folder followed by `X`.
 */

import type { ConfigIssue } from '../errors.js';
import { isPlainObject } from './freeze.js';
import { joinPath } from './path.js';

/** What `$` references in one YAML file resolve to. */
export interface VarContext {
  /** Absolute folder of the YAML file. */
  yamlPath: string;
  /**
   * URL path of that folder relative to the root config. `undefined` when the file lies outside the root
   * config's folder and its import gave no `YAMLURL:`: then any use of `$YAMLURL` is an issue.
   */
  yamlUrl: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
  /** File reported in issues. */
  file: string;
}

const REFERENCE = /\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g;

/**
 * Expands the variables in one string. Problems (unset variables, an undefined `$YAMLURL`) are pushed onto
 * `issues` with the given YAML path; the reference is then left as written so later checks still see text.
 */
export function expandString(text: string, ctx: VarContext, path: string, issues: ConfigIssue[]): string {
  if (!text.includes('$')) return text;
  return text.replace(REFERENCE, (whole, dollar: string | undefined, braced?: string, bare?: string) => {
    if (dollar) return '$';
    const name = (braced ?? bare) as string;
    if (name === 'YAMLPATH') return ctx.yamlPath;
    if (name === 'YAMLURL') {
      if (ctx.yamlUrl !== undefined) return ctx.yamlUrl;
      issues.push({
        path,
        file: ctx.file,
        message: '$YAMLURL is undefined: this file is outside the root config folder; give its import a YAMLURL',
      });
      return whole;
    }
    const value = ctx.env[name];
    if (value !== undefined) return value;
    issues.push({
      path,
      file: ctx.file,
      message: `environment variable $${name} is not set (write $$ for a literal $)`,
    });
    return whole;
  });
}

/**
 * Returns a copy of `value` with variables expanded in every string, recursively through plain objects and
 * arrays. Keys are not expanded. Other values (numbers, functions, class instances from an embedding app) are
 * returned as they are. The input is never modified, so an embedding app's object stays its own.
 */
export function expandVars(value: unknown, ctx: VarContext, path: string, issues: ConfigIssue[]): unknown {
  return expand(value, ctx, path, issues, new Set());
}

function expand(value: unknown, ctx: VarContext, path: string, issues: ConfigIssue[], seen: Set<object>): unknown {
  if (typeof value === 'string') return expandString(value, ctx, path, issues);
  if (!Array.isArray(value) && !isPlainObject(value)) return value;
  // YAML aliases share objects, which is fine; only a true cycle (possible in an in-memory config) is an error.
  if (seen.has(value)) {
    issues.push({ path, file: ctx.file, message: 'circular reference' });
    return undefined;
  }
  seen.add(value);
  let copy: unknown;
  if (Array.isArray(value)) {
    copy = value.map((item, i) => expand(item, ctx, joinPath(path, i), issues, seen));
  } else {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      // defineProperty, not assignment: a YAML key `__proto__` must stay data, not replace the prototype.
      Object.defineProperty(out, key, {
        value: expand(child, ctx, joinPath(path, key), issues, seen),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    copy = out;
  }
  seen.delete(value);
  return copy;
}
