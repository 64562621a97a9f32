/**
 * @module filter/key
 * A canonical string for what a live subscriber receives: its groups of conditions and its projection. The hub
 * groups subscribers by this key so each distinct filter runs, and each frame is encoded, once per event.
 */

import { asciiLower, canonicalValues, compareCodePoints } from './compare.js';
import { FOLDED_OPS } from './operators.js';
import type { Condition, Filter, Scalar } from './types.js';

/**
 * Returns the same string for filters that select and project the same way: conditions in any order, groups in
 * any order, repeated conditions or groups, repeated or reordered values, case variants of `*=` values and `_c`
 * columns in any order all give equal keys. A filter whose groups collapse to one (or that has an empty group,
 * which passes every row) keys as the AND-only filter it equals. Sort, limit and offset are left out because
 * they never affect live delivery.
 */
export function filterKey(filter: Filter): string {
  const columns = filter.columns ? [...new Set(filter.columns)].sort(compareCodePoints) : null;
  // JSON keeps types apart: "1" (text), 1 (number) and true (boolean) never collide. An AND-only key and an
  // any-of key differ in their first property, so they cannot collide either.
  const tail = `,"columns":${JSON.stringify(columns)}}`;
  const { or } = filter;
  if (or === undefined || or.length === 0) return `{"where":${canonicalGroup(filter.where).key}${tail}`;
  const groups = new Set<string>();
  for (const group of [filter.where, ...or]) {
    const { conditions, key } = canonicalGroup(group);
    if (conditions.length === 0) return `{"where":${key}${tail}`;
    groups.add(key);
  }
  if (groups.size === 1) return `{"where":${[...groups][0]}${tail}`;
  return `{"any":[${[...groups].sort(compareCodePoints).join(',')}]${tail}`;
}

/**
 * A group's conditions in canonical order (column, operator, then values), each repeat dropped, and the JSON
 * of their canonical forms: `[column, op, values]` with values sorted, distinct and, for `*=` / `!*=`, folded.
 * The conditions returned are the given objects, not copies.
 */
export function canonicalGroup(group: readonly Condition[]): { conditions: Condition[]; key: string } {
  const entries = group.map((c) => {
    const values = FOLDED_OPS.has(c.op) ? c.values.map((v) => asciiLower(String(v))) : c.values;
    const tuple: readonly [string, string, Scalar[]] = [c.column, c.op, canonicalValues(values)];
    return { c, tuple, json: JSON.stringify(tuple) };
  });
  entries.sort((a, b) => compareCodePoints(a.tuple[0], b.tuple[0]) || compareCodePoints(a.tuple[1], b.tuple[1]) || compareCodePoints(a.json, b.json));
  const kept = entries.filter((e, i) => i === 0 || entries[i - 1]!.json !== e.json);
  return { conditions: kept.map((e) => e.c), key: `[${kept.map((e) => e.json).join(',')}]` };
}
