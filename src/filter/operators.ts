/**
 * @module filter/operators
 * FormHandler key suffixes and the operators they stand for. In a URL the `=` belongs to the query syntax, so
 * `?n>=5` arrives as key `n>` with value `5`: the suffix is everything after the column name, and `>` alone
 * means *strictly* greater (Gramex's quirk, kept); `>~` is "greater or equal".
 */

import type { Op } from './types.js';

export interface OperatorSpec {
  /** Operator when at least one non-empty value is given. */
  readonly op: Op;
  /** Operator when every value is empty (`?col`, `?col=`, `?col!`); undefined: the key is ignored. */
  readonly empty?: Op;
}

/**
 * Suffixes in the order Gramex's `_filter_col` tries them; the first whose prefix is a column name wins. The
 * order matters only for column names that themselves end in one of these characters.
 */
export const SUFFIXES: readonly (readonly [string, OperatorSpec])[] = [
  ['!', { op: 'ne', empty: 'null' }],
  ['>', { op: 'gt' }],
  ['>~', { op: 'ge' }],
  ['<', { op: 'lt' }],
  ['<~', { op: 'le' }],
  ['!~', { op: 'notcontains' }],
  ['~', { op: 'contains' }],
  ['!*', { op: 'noticontains' }],
  ['*', { op: 'icontains' }],
];

/** A key that is exactly a column name: equality, or NOT NULL when the value is empty. */
export const EXACT: OperatorSpec = { op: 'eq', empty: 'notnull' };

/** Substring operators: defined on text columns only. */
export const TEXT_OPS: ReadonlySet<Op> = new Set(['contains', 'notcontains', 'icontains', 'noticontains']);

/** Operators whose values are ASCII-folded before use. */
export const FOLDED_OPS: ReadonlySet<Op> = new Set(['icontains', 'noticontains']);

/**
 * Finds the column and operator a key names, or undefined when it names none. An exact column name always
 * wins over a suffix reading, as in Gramex.
 */
export function resolveKey(
  key: string,
  hasColumn: (name: string) => boolean,
): { column: string; spec: OperatorSpec } | undefined {
  if (hasColumn(key)) return { column: key, spec: EXACT };
  for (const [suffix, spec] of SUFFIXES) {
    if (key.length > suffix.length && key.endsWith(suffix)) {
      const column = key.slice(0, -suffix.length);
      if (hasColumn(column)) return { column, spec };
    }
  }
  return undefined;
}
