/**
 * @module filter/indexable
 * Which live filters the hub serves from an index instead of testing each event against them (hub/hub.ts), and
 * by which keys. Only shapes whose lookup gives exactly the predicate's answer (filter/predicate.ts), checked by
 * test/hub/index.test.ts against the predicates themselves:
 * - one equality on text values: a string value matches only the identical string;
 * - one substring test for delimited tokens `|t|` (t non-empty, without `|`): it occurs in a text exactly when t
 *   is one of the text's `|`-separated segments other than the first and the last.
 */
import type { Filter } from './types.js';

/** A delimited token needle: `|t|`, t non-empty and without `|`. */
const TOKEN = /^\|[^|]+\|$/;

/**
 * How the index can serve a filter: exactly one group of exactly one condition, either `eq` with string values
 * (the values are the keys) or `contains` with `|t|` needles (the tokens are). null for any other filter (scanned).
 */
export function indexable(filter: Filter): { column: string; keys: readonly string[]; tokens: boolean } | null {
  if (filter.or || filter.where.length !== 1) return null;
  const c = filter.where[0]!;
  if (c.values.length === 0) return null;
  if (c.op === 'eq') {
    for (const v of c.values) if (typeof v !== 'string') return null;
    return { column: c.column, keys: c.values as string[], tokens: false };
  }
  if (c.op === 'contains') {
    for (const v of c.values) if (typeof v !== 'string' || !TOKEN.test(v)) return null;
    return { column: c.column, keys: (c.values as string[]).map((v) => v.slice(1, -1)), tokens: true };
  }
  return null;
}

