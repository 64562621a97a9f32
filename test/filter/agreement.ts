/**
 * The agreement property shared by the SQLite, PostgreSQL and MySQL/MariaDB suites: for random rows and random
 * query strings (AND-only, or any-of groups of them), the ids the SQL back end returns are exactly the ids the
 * JavaScript predicate accepts, and for any-of filters exactly the ids that pass the shared args and at least
 * one group, each tested as an AND-only filter (so SQL and predicate cannot agree on a wrong reading of `or`).
 */

import fc from 'fast-check';
import knex, { type Knex } from 'knex';
import { applyWhere, compilePredicate, parseFilter, parseFilterGroups, type Filter, type SqlClient } from '../../src/filter/index.js';
import type { Args, Row } from '../../src/types.js';
import { columnMap } from './fixtures.js';

/** `t` has the database's default collation; `s` a case-insensitive or linguistic one where we can declare it. */
export const AGREEMENT_COLUMNS = columnMap({ id: 'integer', t: 'text', s: 'text', n: 'integer', r: 'real', b: 'boolean' });

export const NUM_RUNS = 300;

// Characters that separate correct from almost-correct: case pairs inside and outside ASCII (É, İ/ı, the
// Kelvin sign K that Unicode lower-cases to k, ǅ), LIKE metacharacters, trailing spaces (MySQL PAD SPACE),
// astral characters against U+E000–U+FFFD (UTF-16 order differs from code-point order there), digits.
const CHARS = ['a', 'A', 'b', 'B', 'k', 'K', 'z', ' ', '%', '_', '\\', 'é', 'É', 'ß', 'İ', 'ı', '\u212A', 'ǅ', '😀', '😁', '\uE000', '\uFFFD', '0', '1', '-'];
const char = fc.constantFrom(...CHARS);
const text = fc.string({ unit: char, maxLength: 5 });
const needle = fc.string({ unit: char, minLength: 1, maxLength: 2 });

const int32 = fc.oneof(fc.integer({ min: -4, max: 4 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
// Doubles that survive a decimal round trip through every driver (no subnormals), plus halves and quarters
// that collide with the integers and with each other, and huge and tiny magnitudes: integral doubles past the
// 64-bit range (1e19, 1e308) once bound as bigint on PostgreSQL and failed there.
const normal = (x: number): boolean => x === 0 || Math.abs(x) >= 2.2250738585072014e-308;
const real = fc.oneof(
  fc.constantFrom(0, -0, 0.1, -0.1, 1.5, 2, -2.5, 1e-7, 123456.789),
  fc.integer({ min: -16, max: 16 }).map((x) => x / 4),
  fc.double({ min: -1e9, max: 1e9, noNaN: true }).filter((x) => x === 0 || Math.abs(x) > 1e-300),
  fc.constantFrom(1e19, -1e19, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64, 1e300, 1e308, -1e308, Number.MAX_VALUE, -Number.MAX_VALUE),
  fc.constantFrom(1e-299, -1e-299, 2.2250738585072014e-308, -2.2250738585072014e-308, 1e-300 * 3),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter(normal),
);

const nullable = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.option(arb, { nil: null, freq: 4 });

const row = fc.record({
  t: nullable(text),
  s: nullable(text),
  n: nullable(int32),
  r: nullable(real),
  b: nullable(fc.boolean()),
});

/** Query-string values per column, as a client would type them. */
const rawValue: Record<'t' | 's' | 'n' | 'r' | 'b', fc.Arbitrary<string>> = {
  t: needle,
  s: needle,
  n: fc.oneof(
    fc.integer({ min: -4, max: 4 }).map(String),
    fc.constantFrom('+3', '007', '-0', '5000000000', '-5000000000'),
    int32.map(String),
  ),
  r: fc.oneof(real.map(String), fc.constantFrom('.5', '-0.0', '1e-7', '2.', '1e308', '1E+19', '-1e19', '18446744073709551616', '1e-299')),
  b: fc.constantFrom('true', 'false', '1', '0', 'TRUE'),
};

const SUFFIX = { eq: '', ne: '!', gt: '>', ge: '>~', lt: '<', le: '<~', contains: '~', notcontains: '!~', icontains: '*', noticontains: '!*' } as const;
type ValueOp = keyof typeof SUFFIX;
const ORDER_OPS: ValueOp[] = ['eq', 'ne', 'gt', 'ge', 'lt', 'le'];
const TEXT_OPS: ValueOp[] = [...ORDER_OPS, 'contains', 'notcontains', 'icontains', 'noticontains'];

/** One query-string key with its values: every operator, 1–3 values, sometimes an extra empty value. */
const argument: fc.Arbitrary<[string, string[]]> = fc.constantFrom('t', 's', 'n', 'r', 'b').chain((column) => {
  const ops = column === 't' || column === 's' ? TEXT_OPS : ORDER_OPS;
  const withValues = fc
    .tuple(fc.constantFrom(...ops), fc.array(rawValue[column], { minLength: 1, maxLength: 3 }), fc.boolean())
    .map(([op, values, addEmpty]): [string, string[]] => [column + SUFFIX[op], addEmpty ? [...values, ''] : values]);
  // `?col` / `?col=` is NOT NULL; `?col!` / `?col!=` is NULL.
  const empty = fc.constantFrom<[string, string[]]>([column, ['']], [column + '!', ['']]);
  return fc.oneof({ arbitrary: withValues, weight: 5 }, { arbitrary: empty, weight: 1 });
});

const args: fc.Arbitrary<Args> = fc
  .uniqueArray(argument, { minLength: 1, maxLength: 3, selector: ([key]) => key })
  .map((entries) => Object.fromEntries(entries));

/** A filter as given: query args alone, or shared args and any-of groups (`parseFilterGroups`). */
export interface FilterSpec {
  args: Args;
  groups?: Args[];
}

/** Any-of specs: 2–4 groups of 1–2 keys (now and then an empty one, which passes every row), 0–2 shared keys. */
const groupsSpec: fc.Arbitrary<FilterSpec> = fc.record({
  args: fc.uniqueArray(argument, { maxLength: 2, selector: ([key]) => key }).map((entries) => Object.fromEntries(entries)),
  groups: fc.array(
    fc.oneof(
      { arbitrary: fc.uniqueArray(argument, { minLength: 1, maxLength: 2, selector: ([key]) => key }).map((entries): Args => Object.fromEntries(entries)), weight: 12 },
      { arbitrary: fc.constant<Args>({}), weight: 1 },
    ),
    { minLength: 2, maxLength: 4 },
  ),
});

const filterSpec: fc.Arbitrary<FilterSpec> = fc.oneof(args.map((a): FilterSpec => ({ args: a })), groupsSpec);

/** A case: rows (ids 1…n) and several filters to run over them. */
export const agreementCase = fc.record({
  rows: fc.array(row, { maxLength: 12 }),
  filters: fc.array(filterSpec, { minLength: 1, maxLength: 4 }),
});

/** The filter a spec describes. */
export function filterOf(spec: FilterSpec): Filter {
  return spec.groups ? parseFilterGroups(spec.args, spec.groups, AGREEMENT_COLUMNS) : parseFilter(spec.args, AGREEMENT_COLUMNS);
}

/**
 * The rows a spec selects by definition: for any-of specs, those that pass the shared args and every condition of
 * at least one group, each read as an AND-only filter (the reading the plain agreement property checks).
 */
export function expectedRows<R extends Row>(spec: FilterSpec, rows: readonly R[]): R[] {
  if (!spec.groups) return rows.filter(compilePredicate(parseFilter(spec.args, AGREEMENT_COLUMNS)));
  const shared = compilePredicate(parseFilter(spec.args, AGREEMENT_COLUMNS));
  const groups = spec.groups.map((g) => compilePredicate(parseFilter(g, AGREEMENT_COLUMNS)));
  return rows.filter((r) => shared(r) && groups.some((g) => g(r)));
}

/** Creates the test table; `s` gets a collation that would break naive comparisons if the filter ignored it. */
export async function createAgreementTable(db: Knex, client: SqlClient, table: string): Promise<void> {
  const sType = await looseTextType(db, client);
  await db.schema.createTable(table, (t) => {
    t.integer('id').primary();
    t.text('t');
    t.specificType('s', sType);
    t.integer('n');
    t.double('r');
    t.boolean('b');
    if (client === 'mysql') t.charset('utf8mb4');
  });
}

async function looseTextType(db: Knex, client: SqlClient): Promise<string> {
  switch (client) {
    case 'sqlite':
      return 'TEXT COLLATE NOCASE';
    case 'mysql':
      return 'TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci';
    case 'pg': {
      const found = await db.raw(`SELECT 1 FROM pg_collation WHERE collname = 'en-x-icu'`);
      return found.rows.length > 0 ? 'text COLLATE "en-x-icu"' : 'text';
    }
  }
}

/**
 * Runs the property against one database: per case, replace the table's rows, then for each filter compare
 * the SQL ids (ORDER BY id) with the predicate's and with {@link expectedRows}. Returns the number of cases that
 * passed; fails when too few filters had any-of groups to say anything about them.
 */
export async function checkAgreement(db: Knex, client: SqlClient, table: string, numRuns = NUM_RUNS): Promise<number> {
  let passed = 0;
  let anyOfRuns = 0;
  await fc.assert(
    fc.asyncProperty(agreementCase, async ({ rows, filters }) => {
      const stored: Row[] = rows.map((r, i) => ({ id: i + 1, ...r }));
      await db(table).delete();
      if (stored.length > 0) await db(table).insert(stored.map((r) => toDatabase(r, client)));
      for (const spec of filters) {
        const filter = filterOf(spec);
        const sql = applyWhere(db(table).select('id'), filter, client).orderBy('id', 'asc');
        const fromSql = (await sql).map((r: { id: number | string }) => Number(r.id));
        // The store adds conditions after the filter's (spans, pages): they must bind to all of an any-of clause.
        const after = applyWhere(db(table).select('id'), filter, client).andWhere('id', '>', 1).orderBy('id', 'asc');
        const fromAfter = (await after).map((r: { id: number | string }) => Number(r.id));
        // Live rows leave NULL keys out half of the time: an absent key must count as NULL.
        const fromJs = stored.filter(compilePredicate(filter)).map((r) => r.id as number);
        const live = stored.map((r, i) => (i % 2 ? withoutNulls(r) : r)).filter(compilePredicate(filter)).map((r) => r.id as number);
        const expected = expectedRows(spec, stored).map((r) => r.id as number);
        const agree =
          [fromJs, live, expected].every((ids) => JSON.stringify(ids) === JSON.stringify(fromSql)) &&
          JSON.stringify(fromAfter) === JSON.stringify(fromSql.filter((id) => id > 1));
        if (!agree) {
          throw new Error(
            `${client} disagrees for ${JSON.stringify(spec)}\n  sql: ${sql.toString()}\n  sql ids: ${fromSql} (id > 1: ${fromAfter})\n  js ids:  ${fromJs}\n  live ids: ${live}\n  expected: ${expected}`,
          );
        }
        if (filter.or) anyOfRuns++;
      }
      passed++;
    }),
    { numRuns },
  );
  // The generator must keep exercising any-of filters (groups that merge or collapse leave AND-only ones).
  if (anyOfRuns < numRuns / 4) throw new Error(`only ${anyOfRuns} any-of filters were checked in ${numRuns} runs`);
  return passed;
}

function toDatabase(r: Row, client: SqlClient): Row {
  return client === 'pg' || typeof r.b !== 'boolean' ? r : { ...r, b: r.b ? 1 : 0 };
}

function withoutNulls(r: Row): Row {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== null));
}

/** A table name no other run (or other test file) uses. */
export function uniqueTable(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Connects to a database server that may not be running. Returns undefined (after logging why) when it is
 * unreachable, unless MSGHUB_REQUIRE_SERVICES=1, in which case unreachability is a failure.
 */
export async function connectIfReachable(label: string, config: Knex.Config): Promise<Knex | undefined> {
  const db = knex({ ...config, acquireConnectionTimeout: 5_000, pool: { min: 0, max: 2 } });
  try {
    await db.raw('SELECT 1');
    return db;
  } catch (err) {
    await db.destroy();
    const why = err instanceof Error ? err.message : String(err);
    if (process.env.MSGHUB_REQUIRE_SERVICES === '1') {
      throw new Error(`${label} is required (MSGHUB_REQUIRE_SERVICES=1) but unreachable: ${why}`);
    }
    console.warn(`[filter agreement] ${label} unreachable (${why}): not tested. Set MSGHUB_REQUIRE_SERVICES=1 to fail instead.`);
    return undefined;
  }
}
