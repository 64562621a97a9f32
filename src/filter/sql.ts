/**
 * @module filter/sql
 * The history back end: a Filter as knex WHERE / ORDER BY / LIMIT / OFFSET clauses for SQLite, PostgreSQL and
 * MySQL/MariaDB. Each condition is one parenthesised raw fragment with bound values, written so that the
 * database answers exactly as `predicate.ts` does:
 *
 * - text is compared as bytes of UTF-8 (= code points): SQLite `COLLATE BINARY`, PostgreSQL `COLLATE "C"` for
 *   ordering comparisons, MySQL `CAST(… AS BINARY)` (its default collations ignore case and trailing spaces);
 * - substring tests use instr / strpos / INSTR on the value as given, never LIKE, so `%`, `_` and `\` are
 *   ordinary characters;
 * - case-insensitive tests fold ASCII A–Z only, in SQL as in JavaScript;
 * - negated operators say `col IS NULL OR NOT (…)` so NULL rows pass them, as in the predicate.
 */

import type { Knex } from 'knex';
import { MhError } from '../errors.js';
import { asciiLower } from './compare.js';
import type { Condition, Filter, Scalar } from './types.js';

/** The SQL dialects the filter compiles for. */
export type SqlClient = 'sqlite' | 'pg' | 'mysql';

/** A raw SQL fragment and its bindings (`??` binds an identifier, `?` a value). */
interface Fragment {
  sql: string;
  bindings: (string | number | boolean)[];
}

/**
 * Adds `filter.where` to a query builder as AND-ed WHERE clauses and returns the same builder. An any-of
 * filter (`filter.or`) is one clause, `((a AND b) OR (c AND d))`, parenthesised whole so that conditions the
 * caller adds after it are AND-ed with all of it; with an empty group (which passes every row) no clause is
 * added. Only `where` and `or` are read; see {@link applyOrder} for the rest.
 *
 * NULL: every condition's SQL is TRUE exactly when the predicate accepts the row, and otherwise FALSE or NULL
 * (UNKNOWN), which AND and OR combine into FALSE or NULL alike, and nothing negates a group: so a WHERE of
 * groups selects exactly the rows the predicate accepts.
 *
 * @throws MhError MH_ERR_FILTER_VALUE when a hand-built condition on an integer column holds a number outside
 *   ±(2^53 − 1) (the parser never builds one).
 */
export function applyWhere<QB extends Knex.QueryBuilder>(qb: QB, filter: Filter, client: SqlClient): QB {
  const { or } = filter;
  if (or !== undefined && or.length > 0) {
    const groups = groupsSql([filter.where, ...or], client);
    if (groups) qb.whereRaw(groups.sql, groups.bindings);
    return qb;
  }
  for (const condition of filter.where) {
    const { sql, bindings } = conditionSql(condition, client);
    qb.whereRaw(sql, bindings);
  }
  return qb;
}

/** Any-of groups as one fragment; undefined when a group is empty (no condition: every row passes). */
function groupsSql(groups: readonly (readonly Condition[])[], client: SqlClient): Fragment | undefined {
  const parts: Fragment[] = [];
  for (const group of groups) {
    if (group.length === 0) return undefined;
    const conditions = group.map((c) => conditionSql(c, client));
    // Every condition's SQL binds tighter than AND (IS NULL, a comparison, or parenthesised), so one needs none.
    const sql = conditions.length === 1 ? conditions[0]!.sql : `(${conditions.map((c) => c.sql).join(' AND ')})`;
    parts.push({ sql, bindings: conditions.flatMap((c) => c.bindings) });
  }
  return anyOf(parts);
}

/**
 * Adds ORDER BY `filter.sort`, then `tiebreak` ascending (a unique column, so pages never overlap or skip),
 * then LIMIT and OFFSET. Sorting uses the database's own collation and NULL placement; it shapes history only.
 */
export function applyOrder<QB extends Knex.QueryBuilder>(qb: QB, filter: Filter, tiebreak: string): QB {
  for (const { column, desc } of filter.sort) qb.orderBy(column, desc ? 'desc' : 'asc');
  if (!filter.sort.some((s) => s.column === tiebreak)) qb.orderBy(tiebreak, 'asc');
  if (filter.limit !== undefined) qb.limit(filter.limit);
  if (filter.offset !== undefined) qb.offset(filter.offset);
  return qb;
}

/** One condition as SQL; exported for tests and for callers that build their own statements. */
export function conditionSql(c: Condition, client: SqlClient): Fragment {
  const col = c.column;
  switch (c.op) {
    case 'null':
      return { sql: '?? IS NULL', bindings: [col] };
    case 'notnull':
      return { sql: '?? IS NOT NULL', bindings: [col] };
    case 'eq':
    case 'gt':
    case 'ge':
    case 'lt':
    case 'le':
    case 'contains':
    case 'icontains':
      return positiveSql(c.op, c, client);
    case 'ne':
    case 'notcontains':
    case 'noticontains': {
      const inner = positiveSql(POSITIVE[c.op], c, client);
      return { sql: `(?? IS NULL OR NOT ${inner.sql})`, bindings: [col, ...inner.bindings] };
    }
  }
}

const POSITIVE = { ne: 'eq', notcontains: 'contains', noticontains: 'icontains' } as const;
const COMPARATORS = { gt: '>', ge: '>=', lt: '<', le: '<=' } as const;

type PositiveOp = 'eq' | 'gt' | 'ge' | 'lt' | 'le' | 'contains' | 'icontains';

/** A positive operator: NULL never satisfies it (SQL's three-valued logic, mirrored by the predicate). */
function positiveSql(op: PositiveOp, c: Condition, client: SqlClient): Fragment {
  const { column: col, values } = c;
  // "Any of no values" is false, as `[].some()` is in the predicate; `IN ()` would be a syntax error. The parser
  // never builds such a condition, but a caller composing its own Filter might.
  if (values.length === 0) return { sql: '(1 = 0)', bindings: [] };
  const text = typeof values[0] === 'string';
  switch (op) {
    case 'eq': {
      const placeholders = values.map((v) => placeholder(v, c, client)).join(', ');
      return { sql: `(${columnSql(client, text, 'equality')} IN (${placeholders}))`, bindings: [col, ...values.map((v) => bind(v, client))] };
    }
    case 'gt':
    case 'ge':
    case 'lt':
    case 'le': {
      const lhs = columnSql(client, text, 'order');
      return anyOf(values.map((v) => ({ sql: `${lhs} ${COMPARATORS[op]} ${placeholder(v, c, client)}`, bindings: [col, bind(v, client)] })));
    }
    case 'contains':
      return anyOf(values.map((v) => ({ sql: substringSql(client, false), bindings: [col, String(v)] })));
    case 'icontains':
      return anyOf(values.map((v) => ({ sql: substringSql(client, true), bindings: [col, asciiLower(String(v))] })));
  }
}

/** ORs fragments in parentheses; one value stays a single test. */
function anyOf(parts: readonly Fragment[]): Fragment {
  return {
    sql: `(${parts.map((p) => p.sql).join(' OR ')})`,
    bindings: parts.flatMap((p) => p.bindings),
  };
}

/**
 * The column as it must appear on the left of a comparison. PostgreSQL equality needs no collation: every
 * deterministic collation (all of them unless one was created `deterministic = false`) compares bytes for
 * equality, and leaving the column bare keeps its index usable. Ordering needs "C" (byte order).
 */
function columnSql(client: SqlClient, text: boolean, use: 'equality' | 'order'): string {
  if (!text) return '??';
  switch (client) {
    case 'sqlite':
      return '?? COLLATE BINARY';
    case 'pg':
      return use === 'order' ? '?? COLLATE "C"' : '??';
    case 'mysql':
      return 'CAST(?? AS BINARY)';
  }
}

/**
 * A value's placeholder. PostgreSQL infers a parameter's type from the column, so a bound 5000000000 against an
 * INTEGER column would fail as out of range; casting keeps every value the filter accepts valid while still
 * using the cross-type comparison operators (and indexes). The cast follows the column's kind, not the value:
 * an integral 1e308 on a REAL column is a double (as bigint it failed in the driver), and an integer column
 * takes bigint, so a number outside the safe-integer range (which the parser refuses) is refused here too.
 *
 * @throws MhError MH_ERR_FILTER_VALUE for a number an integer column cannot compare exactly.
 */
function placeholder(v: Scalar, c: Condition, client: SqlClient): string {
  if (typeof v === 'number') {
    if (c.numeric === 'integer' && !Number.isSafeInteger(v)) {
      throw new MhError('MH_ERR_FILTER_VALUE', [c.column, `${v} is not an integer within ±(2^53 − 1)`]);
    }
    const integer = c.numeric === 'integer' || (c.numeric === undefined && Number.isSafeInteger(v));
    if (client === 'pg') return integer ? 'CAST(? AS bigint)' : 'CAST(? AS double precision)';
  }
  if (client === 'mysql' && typeof v === 'string') return 'CAST(? AS BINARY)';
  return '?';
}

/** better-sqlite3 cannot bind booleans and MySQL stores them as TINYINT, so both get 0/1. */
function bind(v: Scalar, client: SqlClient): Scalar {
  return typeof v === 'boolean' && client !== 'pg' ? Number(v) : v;
}

// MySQL's LOWER() is a no-op on binary strings and folds all of Unicode on text, so ASCII folding is spelled
// out byte by byte. In UTF-8 the bytes 0x41–0x5A only ever encode A–Z, so replacing them is exact.
const MYSQL_ASCII_LOWER = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'].reduce(
  (expr, c) => `REPLACE(${expr}, '${c}', '${c.toLowerCase()}')`,
  'CAST(?? AS BINARY)',
);

/** `col contains ?`; `folded` compares the ASCII-lower-cased column with an already folded needle. */
function substringSql(client: SqlClient, folded: boolean): string {
  switch (client) {
    case 'sqlite':
      // SQLite's built-in lower() folds ASCII only (this build has no ICU), which is the definition we want.
      return folded ? 'instr(lower(??), ?) > 0' : 'instr(??, ?) > 0';
    case 'pg':
      return folded
        ? `strpos(translate(??, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), ?) > 0`
        : 'strpos(??, ?) > 0';
    case 'mysql':
      return `INSTR(${folded ? MYSQL_ASCII_LOWER : 'CAST(?? AS BINARY)'}, CAST(? AS BINARY)) > 0`;
  }
}
