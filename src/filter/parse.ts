/**
 * @module filter/parse
 * FormHandler query arguments → Filter. Everything a client can get wrong is caught here, once per
 * connection, with a catalog error: unknown columns, unknown `_` keys, values of the wrong type, too many
 * conditions. The back ends can then trust the Filter they are given.
 */

import { MhError } from '../errors.js';
import type { Args, ColumnDef } from '../types.js';
import { asciiLower, canonicalValues, compareCodePoints } from './compare.js';
import { filterComparisons } from './budget.js';
import { convertValue } from './convert.js';
import { anyOf } from './groups.js';
import { FOLDED_OPS, TEXT_OPS, resolveKey } from './operators.js';
import type { Condition, Filter, ParseOptions, Scalar } from './types.js';

/** Default for {@link ParseOptions.maxConditions}. */
export const DEFAULT_MAX_CONDITIONS = 64;

/** Default for {@link ParseOptions.maxNeedle}. */
export const DEFAULT_MAX_NEEDLE = 1000;

const NON_NEGATIVE_INTEGER = /^\d+$/;

/**
 * Parses query arguments against a table's columns.
 *
 * - `col=v`, `col!=v`, `col>=v` (strictly greater), `col>~=v`, `col<=v` (strictly less), `col<~=v`, `col~=v`,
 *   `col!~=v`, `col*=v`, `col!*=v`; `?col` / `?col=` is NOT NULL, `?col!` / `?col!=` is NULL.
 * - Empty values are dropped first (as in Gramex); a comparison or substring key left with no value is ignored.
 * - `_sort`, `_limit`, `_offset`, `_c` are controls; keys in `options.reserved` are skipped.
 *
 * @throws MhError MH_ERR_FILTER_COLUMN for an unknown column or `_` key; MH_ERR_FILTER_VALUE for a value that
 *   does not convert, a substring operator on a non-text column, a bad `_limit`/`_offset`, more than
 *   `maxConditions` comparisons, or a substring or text ordering value longer than `maxNeedle`.
 */
export function parseFilter(
  args: Args,
  columns: ReadonlyMap<string, ColumnDef>,
  options: ParseOptions = {},
): Filter {
  const reserved = options.reserved ?? new Set<string>();
  const maxConditions = options.maxConditions ?? DEFAULT_MAX_CONDITIONS;
  const maxNeedle = options.maxNeedle ?? DEFAULT_MAX_NEEDLE;
  const where: Condition[] = [];
  const filter: Filter = { where, sort: [] };

  for (const [key, values] of Object.entries(args)) {
    if (reserved.has(key)) continue;
    switch (key) {
      case '_sort':
        filter.sort = parseSort(values, columns);
        continue;
      case '_limit':
        setCount(filter, 'limit', key, values);
        continue;
      case '_offset':
        setCount(filter, 'offset', key, values);
        continue;
      case '_c':
        filter.columns = parseProjection(values, columns);
        continue;
    }
    const condition = parseCondition(key, values, columns, maxNeedle);
    if (condition) where.push(condition);
  }

  // Each value is one comparison in SQL (an IN list entry, an OR-ed instr()), so values are what is budgeted.
  checkComparisons(filterComparisons(filter), maxConditions);
  // A canonical order makes equal filters compile to identical SQL text and identical keys.
  where.sort((a, b) => compareCodePoints(a.column, b.column) || compareCodePoints(a.op, b.op));
  return filter;
}

/** The keys that shape a whole filter: allowed in the shared args of {@link parseFilterGroups}, not in a group. */
const CONTROLS: ReadonlySet<string> = new Set(['_sort', '_limit', '_offset', '_c']);

/**
 * Parses a filter that is any of several groups (module filter/groups has an example per adapter): a row
 * matches when it passes every condition of `args` and every condition of at least one of `groups`. `args` is
 * parsed as by {@link parseFilter} (controls and `options.reserved` included) and its conditions are AND-ed into
 * each group; a group holds conditions only. The result is canonical and frozen (see `anyOf`).
 *
 * Bounds: `options.maxConditions` counts the comparisons of the whole filter, `args`' conditions once per group
 * they are AND-ed into; a filter with more groups than that is refused before anything is parsed.
 *
 * @throws MhError as {@link parseFilter}, and MH_ERR_FILTER_COLUMN for a control (`_sort`, `_limit`, `_offset`,
 *   `_c`) or reserved key inside a group; MH_ERR_FILTER_VALUE for no groups, or too many groups or comparisons.
 */
export function parseFilterGroups(
  args: Args,
  groups: readonly Args[],
  columns: ReadonlyMap<string, ColumnDef>,
  options: ParseOptions = {},
): Filter {
  const maxConditions = options.maxConditions ?? DEFAULT_MAX_CONDITIONS;
  if (groups.length === 0) throw new MhError('MH_ERR_FILTER_VALUE', ['filter', 'an any-of filter needs at least one group']);
  // Every group but an empty one costs a comparison, and an empty one passes every row: no use for more.
  if (groups.length > maxConditions) {
    throw new MhError('MH_ERR_FILTER_VALUE', ['filter', `${groups.length} groups; the limit is ${maxConditions}`]);
  }
  const shared = parseFilter(args, columns, options);
  const sharedComparisons = filterComparisons(shared);
  const groupOptions: ParseOptions = { maxConditions, maxNeedle: options.maxNeedle };
  const parsed: Condition[][] = [];
  let comparisons = 0;
  for (const group of groups) {
    for (const key of Object.keys(group)) {
      if (CONTROLS.has(key) || options.reserved?.has(key)) throw new MhError('MH_ERR_FILTER_COLUMN', [key]);
    }
    const { where } = parseFilter(group, columns, groupOptions);
    // Counted as run: the shared conditions are tested again in every group.
    comparisons += sharedComparisons + filterComparisons({ where, sort: [] });
    checkComparisons(comparisons, maxConditions);
    parsed.push([...shared.where, ...where]);
  }
  return anyOf(parsed, shared);
}

function checkComparisons(comparisons: number, maxConditions: number): void {
  if (comparisons > maxConditions) {
    throw new MhError('MH_ERR_FILTER_VALUE', ['filter', `${comparisons} comparisons; the limit is ${maxConditions}`]);
  }
}

function parseCondition(key: string, raw: readonly string[], columns: ReadonlyMap<string, ColumnDef>, maxNeedle: number): Condition | undefined {
  const resolved = resolveKey(key, (name) => columns.has(name));
  if (!resolved) throw new MhError('MH_ERR_FILTER_COLUMN', [key]);
  const { column, spec } = resolved;
  const def = columns.get(column) as ColumnDef;
  if (TEXT_OPS.has(spec.op) && def.kind !== 'text') {
    throw new MhError('MH_ERR_FILTER_VALUE', [key, `substring operators need a text column; "${column}" is ${def.kind}`]);
  }
  const numeric = def.kind === 'integer' || def.kind === 'real' ? { numeric: def.kind } : undefined;
  const given = raw.filter((v) => v !== '');
  if (given.length === 0) return spec.empty ? { column, op: spec.empty, values: [], ...numeric } : undefined;
  // Each substring value is searched for in the whole row value, per event, per distinct filter; a text
  // ordering value is compared unit by unit. Long ones are refused before anything is converted or kept.
  if (def.kind === 'text' && spec.op !== 'eq' && spec.op !== 'ne') {
    for (const v of given) {
      if (v.length > maxNeedle) throw new MhError('MH_ERR_FILTER_VALUE', [key, `a value of ${v.length} characters; the limit is ${maxNeedle} (max_filter_needle)`]);
    }
  }

  let values: Scalar[] = given.map((v) => convertValue(key, def.kind, v));
  if (FOLDED_OPS.has(spec.op)) values = values.map((v) => asciiLower(v as string));
  values = canonicalValues(values);
  // "Greater than any of them" is "greater than the least of them" (Gramex's min/max), so one value suffices.
  if (spec.op === 'gt' || spec.op === 'ge') values = [values[0]];
  if (spec.op === 'lt' || spec.op === 'le') values = [values[values.length - 1]];
  return { column, op: spec.op, values, ...numeric };
}

function parseSort(values: readonly string[], columns: ReadonlyMap<string, ColumnDef>): Filter['sort'] {
  const sort: Filter['sort'] = [];
  for (const v of values) {
    const desc = v.startsWith('-');
    const column = desc ? v.slice(1) : v;
    if (!columns.has(column)) throw new MhError('MH_ERR_FILTER_COLUMN', [column]);
    // A repeated column cannot change the order after its first mention.
    if (!sort.some((s) => s.column === column)) sort.push({ column, desc });
  }
  return sort;
}

function setCount(filter: Filter, field: 'limit' | 'offset', key: string, values: readonly string[]): void {
  for (const v of values) {
    const n = NON_NEGATIVE_INTEGER.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n)) throw new MhError('MH_ERR_FILTER_VALUE', [key, `"${v}" is not a non-negative integer`]);
    const current = filter[field];
    filter[field] = current === undefined ? n : Math.min(current, n);
  }
}

function parseProjection(values: readonly string[], columns: ReadonlyMap<string, ColumnDef>): string[] {
  const include: string[] = [];
  const exclude = new Set<string>();
  for (const v of values) {
    const minus = v.startsWith('-');
    const column = minus ? v.slice(1) : v;
    if (!columns.has(column)) throw new MhError('MH_ERR_FILTER_COLUMN', [column]);
    if (minus) exclude.add(column);
    else if (!include.includes(column)) include.push(column);
  }
  // Only exclusions: start from every column, as Gramex does.
  const base = include.length > 0 ? include : [...columns.keys()];
  return base.filter((c) => !exclude.has(c));
}

