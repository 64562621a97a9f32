/**
 * @module filter/key
 * A canonical string for what a live subscriber receives: its conditions and its projection. The hub groups
 * subscribers by this key so each distinct filter runs, and each frame is encoded, once per event.
 */

import { asciiLower, canonicalValues, compareCodePoints } from './compare.js';
import { FOLDED_OPS } from './operators.js';
import type { Filter } from './types.js';

/**
 * Returns the same string for filters that select and project the same way: conditions in any order,
 * repeated or reordered values, case variants of `*=` values and `_c` columns in any order all give equal keys.
 * Sort, limit and offset are left out because they never affect live delivery.
 */
export function filterKey(filter: Filter): string {
  const where = filter.where
    .map((c) => {
      const values = FOLDED_OPS.has(c.op) ? c.values.map((v) => asciiLower(String(v))) : c.values;
      return [c.column, c.op, canonicalValues(values)] as const;
    })
    .sort((a, b) => compareCodePoints(a[0], b[0]) || compareCodePoints(a[1], b[1]) || compareCodePoints(JSON.stringify(a[2]), JSON.stringify(b[2])));
  const columns = filter.columns ? [...new Set(filter.columns)].sort(compareCodePoints) : null;
  // JSON keeps types apart: "1" (text), 1 (number) and true (boolean) never collide.
  return JSON.stringify({ where, columns });
}
