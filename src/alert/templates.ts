/**
 * @module alert/templates
 * Nunjucks templates for alert fields, compiled once at load. Two environments share one loader rooted at the
 * handler's YAML folder (for `{% include %}`): `html` autoescapes, `text` does not, because escaping `&` in a
 * subject or an address would corrupt it while not escaping message data in HTML would let a sender inject
 * markup into every recipient's mail.
 */
import nunjucks from 'nunjucks';
import type { CompiledTemplate } from './compiled-template.js';

export type { CompiledTemplate };

/** The pair of environments for one YAML folder. */
export interface TemplateEnvironments {
  /** Plain text: subject, addresses, body. No escaping. */
  readonly text: nunjucks.Environment;
  /** HTML and markdown (which becomes HTML): values are HTML-escaped unless marked `| safe`. */
  readonly html: nunjucks.Environment;
}

const cache = new Map<string, TemplateEnvironments>();

/**
 * Environments for templates that live in `yamlPath`. Cached per folder so that many handlers in one file share
 * a loader (and its template cache). `throwOnUndefined` stays off: a missing variable renders empty, because
 * a client leaving out an optional key must not cost the recipients their mail.
 */
export function environmentsFor(yamlPath: string): TemplateEnvironments {
  let envs = cache.get(yamlPath);
  if (!envs) {
    // The loader refuses names that resolve outside yamlPath, so an include can never read arbitrary files.
    const loader = new nunjucks.FileSystemLoader(yamlPath, { noCache: false });
    envs = {
      text: new nunjucks.Environment(loader, { autoescape: false }),
      html: new nunjucks.Environment(loader, { autoescape: true }),
    };
    cache.set(yamlPath, envs);
  }
  return envs;
}

/** The undocumented parts of nunjucks' public object we rely on to walk a template's syntax tree. */
interface NunjucksInternals {
  parser: { parse(src: string, extensions?: unknown, opts?: unknown): { findAll(type: unknown): { name: { value: string } }[] } };
  nodes: { Filter: unknown; FilterAsync: unknown };
}

/**
 * Compiles `src` eagerly. Returns the template, or an error message fit for a ConfigIssue: a syntax error, or
 * a filter that does not exist (nunjucks would otherwise only notice that on the first render).
 */
export function compileTemplate(src: string, env: nunjucks.Environment): CompiledTemplate | { error: string } {
  let template: nunjucks.Template;
  try {
    template = new nunjucks.Template(src, env, undefined, true);
  } catch (err) {
    return { error: templateErrorMessage(err) };
  }
  const internals = nunjucks as unknown as NunjucksInternals;
  try {
    const ast = internals.parser.parse(src);
    for (const type of [internals.nodes.Filter, internals.nodes.FilterAsync]) {
      for (const node of ast.findAll(type)) {
        const name = node.name?.value;
        if (typeof name !== 'string') continue;
        try {
          env.getFilter(name);
        } catch {
          return { error: `unknown filter "${name}"` };
        }
      }
    }
  } catch {
    // The walk is a bonus check; if nunjucks' internals change, the compile above still stands.
  }
  return template;
}

/**
 * Nunjucks messages look like `(unknown path) [Line 1, Column 24]\n  unexpected token: %}`. Keep the line and
 * column, drop the path placeholder and the indentation, so the issue reads as one sentence.
 */
export function templateErrorMessage(err: unknown): string {
  const raw = err instanceof Error ? err.message : String(err);
  const where = /\[Line (\d+), Column (\d+)\]/.exec(raw);
  const detail = raw
    .replace(/^\([^)]*\)\s*/, '')
    .replace(/\[Line \d+, Column \d+\]/, '')
    .replace(/^\s*Error:\s*/m, '')
    .replace(/\s+/g, ' ')
    .trim();
  return where ? `template error at line ${where[1]}, column ${where[2]}: ${detail}` : `template error: ${detail}`;
}
