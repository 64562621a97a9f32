/**
 * @module filter/predicate
 * The live-event back end: a Filter's conditions compiled into one JavaScript function over a row. It must
 * answer exactly as the SQL of `sql.ts` does for the same row; test/filter/agreement.ts checks that on random
 * rows and filters against every database.
 */

import type { Row } from '../types.js';
import { asciiLower, compareScalar, toNumber } from './compare.js';
import { foldMemo } from './fold.js';
import type { Condition, Filter, Predicate, Scalar } from './types.js';

/**
 * Compiles `filter.where` and `filter.or` (and only those: sort, limit, offset and `_c` never gate live
 * delivery). An AND-only filter compiles exactly as it always has; an any-of filter tries its groups in order
 * and stops at the first that passes.
 *
 * Rows hold canonical JavaScript values: text → string, integer/real → number, boolean → boolean (0/1 is
 * accepted too), NULL → null, and a key absent from the row counts as NULL. A value of the wrong type for its
 * condition (a number where text is expected) matches no positive operator, so the negated ones accept it.
 */
export function compilePredicate(filter: Filter): Predicate {
  const { or } = filter;
  if (or === undefined || or.length === 0) return allOf(filter.where);
  const groups = [filter.where, ...or].map(allOf);
  // An empty group passes every row, as in SQL (sql.ts leaves the WHERE clause out).
  if (groups.includes(always)) return always;
  if (groups.length === 2) {
    const [a, b] = groups as [Predicate, Predicate];
    return (row) => a(row) || b(row);
  }
  return (row) => {
    for (const group of groups) if (group(row)) return true;
    return false;
  };
}

const always: Predicate = () => true;

/** One group: true when the row passes every condition. */
function allOf(where: readonly Condition[]): Predicate {
  const tests = where.map(compileCondition);
  if (tests.length === 0) return always;
  if (tests.length === 1) return tests[0];
  return (row) => {
    for (const test of tests) if (!test(row)) return false;
    return true;
  };
}

/** A condition's test on one non-null value; NULL handling is added uniformly by {@link compileCondition}. */
type ValueTest = (value: unknown) => boolean;

function compileCondition(c: Condition): Predicate {
  const { column } = c;
  const read = (row: Row): unknown => row[column] ?? null;
  switch (c.op) {
    case 'null':
      return (row) => read(row) === null;
    case 'notnull':
      return (row) => read(row) !== null;
    case 'eq':
    case 'gt':
    case 'ge':
    case 'lt':
    case 'le':
    case 'contains':
    case 'icontains': {
      // SQL's three-valued logic: NULL satisfies no positive comparison.
      const test = valueTest(c.op, c.values, column);
      return (row) => {
        const v = read(row);
        return v !== null && test(v);
      };
    }
    case 'ne':
    case 'notcontains':
    case 'noticontains': {
      // The negations are exact complements, so they accept NULL (SQL: `col IS NULL OR NOT (…)`).
      const test = valueTest(positive[c.op], c.values, column);
      return (row) => {
        const v = read(row);
        return v === null || !test(v);
      };
    }
  }
}

const positive = { ne: 'eq', notcontains: 'contains', noticontains: 'icontains' } as const;

/** Which orders (−1, 0, 1 from compareScalar) each comparison accepts. */
const ORDER_TESTS: Readonly<Record<'gt' | 'ge' | 'lt' | 'le', (order: number) => boolean>> = {
  gt: (o) => o > 0,
  ge: (o) => o >= 0,
  lt: (o) => o < 0,
  le: (o) => o <= 0,
};

function valueTest(op: 'eq' | 'gt' | 'ge' | 'lt' | 'le' | 'contains' | 'icontains', values: readonly Scalar[], column: string): ValueTest {
  switch (op) {
    case 'eq': {
      // One Set lookup however many values; booleans and numbers meet as numbers (0/1), strings as themselves.
      const wanted = new Set<string | number>(values.map((v) => (typeof v === 'string' ? v : Number(v))));
      return (v) => {
        const k = typeof v === 'string' ? v : toNumber(v);
        return k !== undefined && wanted.has(k);
      };
    }
    case 'gt':
    case 'ge':
    case 'lt':
    case 'le': {
      const accept = ORDER_TESTS[op];
      return anyOf(values, (v, x) => {
        const order = compareScalar(v, x);
        return order !== undefined && accept(order);
      });
    }
    case 'contains': {
      const needles = values.map(String);
      return (v) => typeof v === 'string' && includesAny(v, needles);
    }
    case 'icontains': {
      // Needles are folded once here; the value once per event per column, shared by every filter (fold.ts).
      const needles = values.map((x) => asciiLower(String(x)));
      const memo = foldMemo(column);
      return (v) => typeof v === 'string' && includesAny(memo.fold(v), needles);
    }
  }
}

function includesAny(haystack: string, needles: readonly string[]): boolean {
  for (const n of needles) if (haystack.includes(n)) return true;
  return false;
}

function anyOf(values: readonly Scalar[], test: (v: unknown, x: Scalar) => boolean): ValueTest {
  if (values.length === 1) {
    const [x] = values;
    return (v) => test(v, x);
  }
  return (v) => values.some((x) => test(v, x));
}
