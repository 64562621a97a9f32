/**
 * @module filter/types
 * The parsed form of a subscriber's FormHandler query arguments. A Filter is plain data: the parser builds it
 * once per connection, and the SQL and JavaScript back ends read it without changing it, so both see exactly
 * the same conditions.
 */

import type { Row } from '../types.js';

/**
 * A comparison operator. `ne`, `notcontains` and `noticontains` are the exact complements of `eq`, `contains`
 * and `icontains`: for every row exactly one of a pair matches, NULL included (docs/filters.md).
 */
export type Op =
  | 'eq'
  | 'ne'
  | 'notnull'
  | 'null'
  | 'gt'
  | 'ge'
  | 'lt'
  | 'le'
  | 'contains'
  | 'notcontains'
  | 'icontains'
  | 'noticontains';

/** A filter value, already converted to its column's kind (text → string, integer/real → number, boolean). */
export type Scalar = string | number | boolean;

/**
 * One condition on one column. Within a condition several values mean "any of them" (`eq`, comparisons,
 * `contains`, `icontains`) or "none of them" (`ne`, `notcontains`, `noticontains`); `null` and `notnull` take
 * no values. All values of one condition have the same JavaScript type.
 */
export interface Condition {
  column: string;
  op: Op;
  values: Scalar[];
  /**
   * The kind of the column when it is numeric (set by the parser; absent for text and boolean columns, and
   * optional for callers composing a Filter). PostgreSQL binds a parameter with the type SQL gives it: integer
   * columns' values as bigint, real columns' as double precision. Absent: a safe integer binds as bigint and any
   * other number as double precision.
   */
  numeric?: 'integer' | 'real';
}

/**
 * A parsed subscription or history filter: any of one or more all-of groups of conditions. `where` is the first
 * (usually the only) group and `or` holds the others, so a row matches when it passes every condition of `where`
 * or every condition of one group of `or`. An empty group passes every row, so `where: []` is "no filter"
 * whatever `or` holds; code that reads `where` alone (and only asks whether it is empty) stays correct, and code
 * that ignored `or` would see a narrower filter, never a wider one. `anyOf` / `parseFilterGroups` (groups.ts)
 * build the canonical form: no `or` key when there is one group, groups sorted and distinct.
 */
export interface Filter {
  where: Condition[];
  /** Further all-of groups, OR-ed with `where`; absent (the common case) for an AND-only filter. */
  or?: Condition[][];
  /** ORDER BY, in order; history only. */
  sort: { column: string; desc: boolean }[];
  /** History only: never gates live delivery. */
  limit?: number;
  /** History only: never gates live delivery. */
  offset?: number;
  /** `_c` projection, exclusions already resolved against the column list; `undefined` keeps every column. */
  columns?: string[];
}

export interface ParseOptions {
  /** Argument keys owned by the transport (`_since`, `_wait`, `access_token`, …): skipped, never errors. */
  reserved?: ReadonlySet<string>;
  /**
   * Most comparisons one filter may hold, counting each value of a condition, summed over all its groups
   * (default 64).
   */
  maxConditions?: number;
  /**
   * Longest value, in UTF-16 code units, of a substring condition (`~=`, `!~=`, `*=`, `!*=`) or a text ordering
   * comparison (default 1000). With `maxConditions` it bounds a filter's needle work, conditions × needle length.
   */
  maxNeedle?: number;
}

/** The live-event side of a Filter: true when the row passes every condition of at least one group. */
export type Predicate = (row: Row) => boolean;
