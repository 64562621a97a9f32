/**
 * Issue 14 item 15: on PostgreSQL a REAL filter value that is integral and past the 64-bit range (`?r>=1e308`)
 * was bound as `CAST(? AS bigint)` and answered 500 MH_ERR_INTERNAL. Real columns now bind as double precision;
 * integer columns refuse values they cannot compare exactly with 400 MH_ERR_FILTER_VALUE, before any SQL runs.
 * Runs through a real HTTP server on a real PostgreSQL; skips (or fails under MSGHUB_REQUIRE_SERVICES=1) without it.
 */
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mount, type Mounted } from '../support/mounts.js';
import { requireService, writeConfig } from '../support/tmp.js';

const TABLE = `mh_real_${process.pid}_${Date.now().toString(36)}`;
const CONFIG = `
url:
  nums:
    pattern: /nums
    handler: MessageHandler
    kwargs:
      url: postgresql://postgres@127.0.0.1:5432/test
      table: ${TABLE}
      columns: {body: TEXT, r: REAL, n: INTEGER}
`;

/** Rows by body; `r` spans the double range, `n` stays an ordinary integer. */
const ROWS = [
  { body: 'one', r: 1, n: 1 },
  { body: 'e19', r: 1e19, n: 2 },
  { body: 'e308', r: 1e308, n: 3 },
  { body: 'max', r: Number.MAX_VALUE, n: 4 },
  { body: 'neg', r: -1e308, n: 5 },
  { body: 'tiny', r: 1e-299, n: 6 },
  { body: 'null', r: null, n: null },
];

describe('REAL filters on PostgreSQL over HTTP', () => {
  let available = true;
  let server: Mounted | undefined;
  let admin: Knex | undefined;

  const get = async (query: string): Promise<{ status: number; body: unknown }> => {
    const res = await fetch(`${server!.http}/nums?${query}`, { signal: AbortSignal.timeout(10_000) });
    return { status: res.status, body: await res.json() };
  };
  const bodies = (rows: unknown): string[] => (rows as { body: string }[]).map((r) => r.body).sort();

  beforeAll(async () => {
    if (!(await requireService('PostgreSQL', 5432))) {
      available = false;
      return;
    }
    admin = knexFactory({ client: 'pg', connection: { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' } });
    server = await mount('http', writeConfig(CONFIG));
    const res = await fetch(`${server.http}/nums`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(ROWS),
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.status).toBe(201);
  }, 30_000);

  afterAll(async () => {
    await server?.close();
    if (admin) {
      await admin.schema.dropTableIfExists(TABLE);
      await admin.destroy();
    }
  });

  it.each([
    ['r>~=1e308', ['e308', 'max']],
    ['r>=1e308', ['max']],
    ['r>~=1E%2B19', ['e19', 'e308', 'max']],
    ['r<=-1e308', []],
    ['r<~=-1e308', ['neg']],
    ['r=1e308', ['e308']],
    ['r!=1e308', ['e19', 'max', 'neg', 'null', 'one', 'tiny']],
    ['r=18446744073709551616&r=1e19', ['e19']],
    ['r<=1e-298&r>=0', ['tiny']],
  ])('answers ?%s with 200 and the right rows', async (query, expected) => {
    if (!available) return;
    const { status, body } = await get(query);
    expect({ status, bodies: bodies(body) }).toEqual({ status: 200, bodies: expected });
  });

  it.each(['n>=1e19', 'n>=9223372036854775808', 'n=9007199254740993', 'n<=1.5'])('refuses ?%s on an INTEGER column with 400 MH_ERR_FILTER_VALUE', async (query) => {
    if (!available) return;
    const { status, body } = await get(query);
    expect(status).toBe(400);
    expect(body).toMatchObject({ _error: { code: 'MH_ERR_FILTER_VALUE' } });
  });
});
