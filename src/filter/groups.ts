/**
 * @module filter/groups
 * Any-of filters: a row matches when it passes every condition of at least one group ("to me or from me").
 * The query string has no syntax for this (docs/filters.md § Any-of groups says why): adapters and embedding
 * code build such filters in code, with the same validation and bounds as a query string:
 *
 * ```ts
 * // x0: a session hears what is addressed to it. One group: the plain AND-only filter.
 * parseFilter({ recipient: [sessionId] }, columns, options);
 * // Texto: a client hears what is to it or from it.
 * parseFilterGroups({}, [{ recipient: [me] }, { sender: [me] }], columns, options);
 * // SimpleBus: a user hears what is addressed to them or to any of their tags.
 * parseFilterGroups({}, [{ 'to~': ['@me'] }, { 'to~': ['#tag1'] }, { 'to~': ['#tag2'] }], columns, options);
 * // (equal to `parseFilter({ 'to~': ['@me', '#tag1', '#tag2'] })`: the groups are merged into that one condition)
 * ```
 *
 * The first argument of `parseFilterGroups` holds what every group shares (conditions AND-ed into each, and
 * `_sort`, `_limit`, `_offset`, `_c`, which shape the whole filter): `parseFilterGroups({ channel: ['ops'],
 * _c: ['body'] }, [{ recipient: [me] }, { sender: [me] }], …)` is `channel = ops AND (recipient = me OR sender =
 * me)`, projected to `body`. Conditions already parsed can be combined with {@link anyOf}.
 */

import { deepFreeze } from '../config/freeze.js';
import { MhError } from '../errors.js';
import { canonicalValues, compareCodePoints } from './compare.js';
import { canonicalGroup } from './key.js';
import type { Condition, Filter, Op } from './types.js';

/** What shapes a filter's history and projection, as opposed to which rows it selects. */
export type FilterShape = Partial<Pick<Filter, 'sort' | 'limit' | 'offset' | 'columns'>>;

/** A filter's groups: `where`, then each of `or`. */
export function filterGroups(filter: Filter): readonly (readonly Condition[])[] {
  return filter.or === undefined || filter.or.length === 0 ? [filter.where] : [filter.where, ...filter.or];
}

/**
 * The frozen filter that matches a row when the row passes every condition of at least one of `groups`, shaped
 * by `shape`. Conditions must be as the parser builds them (values of the column's kind, canonical, `*=` values
 * folded); they are copied, never frozen in place. The result is canonical, so equal inputs give equal filters
 * (and equal SQL text):
 * - a group with one `=`, `~=` or `*=` condition joins the other such groups on the same column and operator as
 *   one condition with all their values (`a = 1 OR a = 2` is `a IN (1, 2)`): fewer groups, the same comparisons;
 * - repeated conditions within a group and repeated groups are dropped; groups are sorted by their key;
 * - an empty group passes every row, so then the filter is `where: []`;
 * - one group left: the AND-only filter `{ where }`, with no `or` key.
 *
 * @throws MhError MH_ERR_FILTER_VALUE when `groups` is empty (any of no groups would match nothing, which a
 *   subscription never means to ask for).
 */
export function anyOf(groups: readonly (readonly Condition[])[], shape: FilterShape = {}): Filter {
  if (groups.length === 0) throw new MhError('MH_ERR_FILTER_VALUE', ['filter', 'an any-of filter needs at least one group']);
  const byKey = new Map<string, Condition[]>();
  for (const group of mergeSingles(groups)) {
    const { conditions, key } = canonicalGroup(group);
    if (conditions.length === 0) {
      byKey.clear();
      byKey.set(key, []);
      break;
    }
    if (!byKey.has(key)) byKey.set(key, conditions);
  }
  const [where, ...or] = [...byKey.keys()].sort(compareCodePoints).map((k) => byKey.get(k)!);
  const filter: Filter = { where: where!, sort: shape.sort ? shape.sort.map((s) => ({ ...s })) : [] };
  if (or.length > 0) filter.or = or;
  if (shape.limit !== undefined) filter.limit = shape.limit;
  if (shape.offset !== undefined) filter.offset = shape.offset;
  if (shape.columns !== undefined) filter.columns = [...shape.columns];
  return deepFreeze(filter);
}

/** Operators whose several values mean "any of them": one-condition groups with them merge into one. */
const MERGEABLE: ReadonlySet<Op> = new Set(['eq', 'contains', 'icontains']);

/** Copies the groups, merging one-condition groups of a {@link MERGEABLE} operator per column and operator. */
function mergeSingles(groups: readonly (readonly Condition[])[]): Condition[][] {
  const out: Condition[][] = [];
  const merged = new Map<string, Condition>();
  for (const group of groups) {
    const only = group.length === 1 ? group[0]! : undefined;
    if (only && MERGEABLE.has(only.op) && only.values.length > 0) {
      // Values of one condition share a type; a hand-built condition of another type stays apart.
      const k = JSON.stringify([only.column, only.op, only.numeric ?? null, typeof only.values[0]]);
      const into = merged.get(k);
      if (into) {
        into.values = canonicalValues([...into.values, ...only.values]);
        continue;
      }
      const copy = { ...only, values: [...only.values] };
      merged.set(k, copy);
      out.push([copy]);
      continue;
    }
    out.push(group.map((c) => ({ ...c, values: [...c.values] })));
  }
  return out;
}
