/**
 * @module filter/project
 * Applies a `_c` projection to a row or a live frame.
 */

import type { Row } from '../types.js';
import type { Filter } from './types.js';

// Keyed by the columns array, not the Filter, so a caller that swaps `filter.columns` never sees a stale set.
const selections = new WeakMap<readonly string[], ReadonlySet<string>>();

/**
 * Keeps the row's keys that `filter.columns` selects, plus every `keep` key present in the row (live frames
 * always carry `_method`, `id`, `_seq`). Keys stay in the row's own order, so two subscribers whose `_c` lists
 * differ only in order get identical frames. Without a projection the row itself is returned, not a copy.
 */
export function projectRow(row: Row, filter: Filter, keep: readonly string[]): Row {
  const { columns } = filter;
  if (!columns) return row;
  let selected = selections.get(columns);
  if (!selected) {
    selected = new Set(columns);
    selections.set(columns, selected);
  }
  const out: Row = {};
  for (const key of Object.keys(row)) {
    if (selected.has(key) || keep.includes(key)) out[key] = row[key];
  }
  return out;
}
