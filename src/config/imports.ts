/**
 * @module config/imports
 * The `import:` section: which YAML files a config pulls in, and the `$YAMLURL` each imported file gets.
 *
 * Accepted shapes (Gramex style):
 * ```yaml
 * import: app/gramex.yaml                 # one path
 * import: [a/gramex.yaml, b/gramex.yaml]   # a list (items may also be {path, YAMLURL})
 * import:
 *   chat: chat/gramex.yaml                 # name: path
 *   admin: {path: admin/gramex.yaml, YAMLURL: /console}
 * ```
 * Paths are relative to the importing file's folder. `*` and `?` wildcards match within one path segment
 * (never a leading `.`); a wildcard that matches nothing imports nothing, a plain path that is missing is an issue.
 */

import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ConfigIssue } from '../errors.js';
import { isPlainObject } from './freeze.js';
import { joinPath } from './path.js';

/** One import request, already variable-expanded. */
export interface ImportSpec {
  /** Path as written (after expansion); may contain wildcards. */
  path: string;
  /** Explicit, normalised `YAMLURL:` for the imported files, if given. */
  yamlUrl?: string;
  /** YAML path of this spec in the importing file, for issues. */
  issuePath: string;
}

const SPEC_KEYS = new Set(['path', 'YAMLURL']);

/** Parses an (expanded) `import:` value. `null` means no imports. */
export function parseImports(value: unknown, file: string, issues: ConfigIssue[]): ImportSpec[] {
  const specs: ImportSpec[] = [];
  const base = 'import';
  if (value === null || value === undefined) return specs;
  if (typeof value === 'string') return [{ path: value, issuePath: base }];
  if (Array.isArray(value)) {
    value.forEach((item, i) => pushSpec(item, joinPath(base, i), file, issues, specs));
  } else if (isPlainObject(value)) {
    for (const [name, item] of Object.entries(value)) pushSpec(item, joinPath(base, name), file, issues, specs);
  } else {
    issues.push({ path: base, file, message: 'import must be a path, a list of paths or a mapping of name: path' });
  }
  return specs;
}

function pushSpec(item: unknown, issuePath: string, file: string, issues: ConfigIssue[], specs: ImportSpec[]): void {
  if (typeof item === 'string' && item !== '') {
    specs.push({ path: item, issuePath });
    return;
  }
  if (!isPlainObject(item)) {
    issues.push({ path: issuePath, file, message: 'an import must be a non-empty path or {path, YAMLURL}' });
    return;
  }
  let ok = true;
  for (const key of Object.keys(item)) {
    if (!SPEC_KEYS.has(key)) {
      issues.push({ path: joinPath(issuePath, key), file, message: 'unknown import key; allowed: path, YAMLURL' });
      ok = false;
    }
  }
  if (typeof item.path !== 'string' || item.path === '') {
    issues.push({ path: joinPath(issuePath, 'path'), file, message: 'path is required and must be a non-empty string' });
    ok = false;
  }
  if (item.YAMLURL !== undefined && typeof item.YAMLURL !== 'string') {
    issues.push({ path: joinPath(issuePath, 'YAMLURL'), file, message: 'YAMLURL must be a string' });
    ok = false;
  }
  if (ok) {
    const spec: ImportSpec = { path: item.path as string, issuePath };
    if (typeof item.YAMLURL === 'string') spec.yamlUrl = normalizeYamlUrl(item.YAMLURL);
    specs.push(spec);
  }
}

/**
 * Normalises a URL prefix so `/$YAMLURL/x` reads the same everywhere: one leading slash, no trailing slash,
 * no doubled slashes, and '' for the site root (`/`, '' and `//` all become '').
 */
export function normalizeYamlUrl(url: string): string {
  const segments = url.split('/').filter((s) => s !== '');
  return segments.length === 0 ? '' : '/' + segments.join('/');
}

/**
 * `$YAMLURL` for a file in `childDir` imported from a file whose folder is `parentDir` with URL `parentUrl`:
 * the parent's URL plus the relative folder path, so an app mounted at `/x` carries its sub-imports with it.
 * Returns undefined when the result would climb above the site root (or the parent's URL is unknown).
 */
export function childYamlUrl(parentUrl: string | undefined, parentDir: string, childDir: string): string | undefined {
  if (parentUrl === undefined) return undefined;
  const segments = parentUrl.split('/').filter((s) => s !== '');
  for (const step of path.relative(parentDir, childDir).split(path.sep)) {
    if (step === '' || step === '.') continue;
    if (step === '..') {
      if (segments.length === 0) return undefined;
      segments.pop();
    } else {
      segments.push(encodeURIComponent(step));
    }
  }
  return segments.length === 0 ? '' : '/' + segments.join('/');
}

/** Absolute files a spec names, sorted; or the reason it names none. */
export async function resolveImport(spec: ImportSpec, baseDir: string): Promise<string[] | string> {
  const target = path.resolve(baseDir, spec.path);
  if (!/[*?]/.test(target)) {
    try {
      if (!(await stat(target)).isFile()) return `${target} is not a file`;
    } catch (err) {
      return `cannot read ${target}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
    }
    return [target];
  }
  return (await expandGlob(target)).sort();
}

/** Expands `*` and `?` segment by segment. Unreadable folders simply contribute no matches. */
async function expandGlob(absolute: string): Promise<string[]> {
  const { root } = path.parse(absolute);
  const segments = absolute.slice(root.length).split(path.sep).filter((s) => s !== '');
  let current = [root];
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1;
    const next: string[] = [];
    for (const dir of current) {
      if (!/[*?]/.test(segment)) {
        next.push(path.join(dir, segment));
        continue;
      }
      const re = globSegment(segment);
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names) if (re.test(name)) next.push(path.join(dir, name));
    }
    current = next;
    if (last) break;
  }
  const files: string[] = [];
  for (const candidate of current) {
    if (await stat(candidate).then((s) => s.isFile(), () => false)) files.push(candidate);
  }
  return files;
}

function globSegment(segment: string): RegExp {
  const body = segment.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  // Like a shell, a wildcard does not match a hidden file's leading dot; a literal leading dot still can.
  return new RegExp(segment.startsWith('.') ? `^${body}$` : `^(?!\\.)${body}$`);
}
