import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knex, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOrder, applyWhere, compilePredicate, parseFilter } from '../../src/filter/index.js';
import { MESSAGES, argsOf } from './fixtures.js';

const ROWS = [
  { id: 'm1', body: 'Hello world', topic: 'Help', user: 'ann', timestamp: '2024-05-01T10:00:00Z', length: 11, score: 1.5, read: 1 },
  { id: 'm2', body: 'hello again', topic: 'help', user: null, timestamp: '2024-05-02T10:00:00Z', length: 11, score: -2, read: 0 },
  { id: 'm3', body: '100% sure_thing', topic: null, user: 'bob', timestamp: '2024-04-30T10:00:00Z', length: 15, score: null, read: null },
  { id: 'm4', body: 'a\\b %', topic: 'Bug', user: 'ann', timestamp: '2024-05-03T10:00:00Z', length: 5, score: 0.25, read: 1 },
  { id: 'm5', body: 'Ünïcode 😀', topic: '😀', user: 'cy', timestamp: '2024-05-04T10:00:00Z', length: null, score: 3, read: 0 },
  { id: 'm6', body: null, topic: '\uE000', user: 'cy', timestamp: '2024-05-05T10:00:00Z', length: 0, score: 0, read: null },
];

describe('applyWhere and applyOrder on a SQLite file', () => {
  let dir: string;
  let db: Knex;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'msghub-filter-sql-'));
    db = knex({ client: 'better-sqlite3', connection: { filename: join(dir, 'messages.db') }, useNullAsDefault: true });
    await db.schema.createTable('messages', (t) => {
      t.text('id').primary();
      t.text('body');
      t.text('topic');
      t.text('user');
      t.text('timestamp');
      t.integer('length');
      t.double('score');
      t.boolean('read');
    });
    await db('messages').insert(ROWS);
  });

  afterAll(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  async function ids(query: string): Promise<string[]> {
    const filter = parseFilter(argsOf(query), MESSAGES);
    const rows: { id: string }[] = await applyOrder(applyWhere(db('messages').select('id'), filter, 'sqlite'), filter, 'id');
    return rows.map((r) => r.id);
  }

  it.each([
    ['topic=Help', ['m1']],
    ['topic=Help&topic=Bug', ['m1', 'm4']],
    ['topic!=Help', ['m2', 'm3', 'm4', 'm5', 'm6']],
    ['topic!=Help&topic!=help', ['m3', 'm4', 'm5', 'm6']],
    ['topic', ['m1', 'm2', 'm4', 'm5', 'm6']],
    ['topic=', ['m1', 'm2', 'm4', 'm5', 'm6']],
    ['topic!', ['m3']],
    ['topic!=', ['m3']],
    ['length>=5', ['m1', 'm2', 'm3']],
    ['length>~=5', ['m1', 'm2', 'm3', 'm4']],
    ['length<=11', ['m4', 'm6']],
    ['length<~=11', ['m1', 'm2', 'm4', 'm6']],
    ['score>=0', ['m1', 'm4', 'm5']],
    ['score<~=0.25', ['m2', 'm4', 'm6']],
    ['read=true', ['m1', 'm4']],
    ['read!=true', ['m2', 'm3', 'm5', 'm6']],
    ['body~=ello', ['m1', 'm2']],
    ['body~=Hello', ['m1']],
    ['body!~=Hello', ['m2', 'm3', 'm4', 'm5', 'm6']],
    ['body*=HELLO', ['m1', 'm2']],
    ['body!*=HELLO', ['m3', 'm4', 'm5', 'm6']],
    ['body~=ello&body~=sure', ['m1', 'm2', 'm3']],
    ['timestamp>~=2024-05-02', ['m2', 'm4', 'm5', 'm6']],
    ['topic>=%EF%BF%BD', ['m5']],
    ['topic<=a', ['m1', 'm4']],
    ['topic=Help&length>=5', ['m1']],
  ])('filters %s', async (query, expected) => {
    expect(await ids(query)).toEqual(expected);
  });

  it('treats % and _ and backslash in a substring value as ordinary characters', async () => {
    expect(await ids('body~=%25')).toEqual(['m3', 'm4']);
    expect(await ids('body~=0%25%20s')).toEqual(['m3']);
    expect(await ids('body~=e_t')).toEqual(['m3']);
    expect(await ids('body~=_')).toEqual(['m3']);
    expect(await ids('body~=a%5Cb')).toEqual(['m4']);
    expect(await ids('body~=h%25')).toEqual([]);
  });

  it('folds only ASCII letters when matching case-insensitively', async () => {
    expect(await ids('body*=%C3%BCn')).toEqual([]);
    expect(await ids('body*=%C3%9Cn')).toEqual(['m5']);
    expect(await ids('body*=UNICODE')).toEqual([]);
    expect(await ids('body*=%C3%9CN%C3%AFCODE')).toEqual(['m5']);
  });

  it('sorts by each _sort column, then by the tiebreak column ascending', async () => {
    expect(await ids('_sort=-length')).toEqual(['m3', 'm1', 'm2', 'm4', 'm6', 'm5']);
    expect(await ids('_sort=user&_sort=-timestamp')).toEqual(['m2', 'm4', 'm1', 'm3', 'm6', 'm5']);
  });

  it('does not repeat the tiebreak column when _sort names it', async () => {
    const filter = parseFilter(argsOf('_sort=-id'), MESSAGES);
    const sql = applyOrder(db('messages').select('id'), filter, 'id').toSQL().sql;
    expect(sql).toBe('select `id` from `messages` order by `id` desc');
    expect(await ids('_sort=-id')).toEqual(['m6', 'm5', 'm4', 'm3', 'm2', 'm1']);
  });

  it('applies _limit and _offset after the filter and the order', async () => {
    expect(await ids('topic&_sort=-timestamp&_limit=2')).toEqual(['m6', 'm5']);
    expect(await ids('topic&_sort=-timestamp&_limit=2&_offset=1')).toEqual(['m5', 'm4']);
    expect(await ids('_offset=4')).toEqual(['m5', 'm6']);
    expect(await ids('_limit=0')).toEqual([]);
  });

  it('leaves ORDER BY and LIMIT out of applyWhere and WHERE out of applyOrder', () => {
    const filter = parseFilter(argsOf('topic=Help&_sort=id&_limit=1'), MESSAGES);
    expect(applyWhere(db('messages'), filter, 'sqlite').toSQL().sql).toBe('select * from `messages` where (`topic` COLLATE BINARY IN (?))');
    expect(applyOrder(db('messages'), filter, 'id').toSQL().sql).toBe('select * from `messages` order by `id` asc limit ?');
  });
});

describe('applyWhere SQL for PostgreSQL and MySQL', () => {
  const pg = knex({ client: 'pg' });
  const mysql = knex({ client: 'mysql2' });
  const sql = (db: Knex, client: 'pg' | 'mysql', query: string) =>
    applyWhere(db('t'), parseFilter(argsOf(query), MESSAGES), client).toSQL().toNative();

  it('compares PostgreSQL text in "C" collation and casts numbers so any safe integer binds', () => {
    expect(sql(pg, 'pg', 'topic>=a').sql).toBe('select * from "t" where ("topic" COLLATE "C" > $1)');
    expect(sql(pg, 'pg', 'length<~=5000000000')).toEqual({
      sql: 'select * from "t" where ("length" <= CAST($1 AS bigint))',
      bindings: [5000000000],
    });
    expect(sql(pg, 'pg', 'score=0.5').sql).toBe('select * from "t" where ("score" IN (CAST($1 AS double precision)))');
  });

  it('binds a real column\'s values as double precision on PostgreSQL, integral or not, however large', () => {
    // As bigint, 1e308 failed in PostgreSQL (500 MH_ERR_INTERNAL): issue 14 item 15.
    expect(sql(pg, 'pg', 'score>~=1e308')).toEqual({ sql: 'select * from "t" where ("score" >= CAST($1 AS double precision))', bindings: [1e308] });
    expect(sql(pg, 'pg', 'score=2&score=1e19').sql).toBe('select * from "t" where ("score" IN (CAST($1 AS double precision), CAST($2 AS double precision)))');
    expect(sql(pg, 'pg', 'length=2').sql).toBe('select * from "t" where ("length" IN (CAST($1 AS bigint)))');
  });

  it('uses strpos and ASCII-only translate in PostgreSQL, with NULLs included by the negations', () => {
    expect(sql(pg, 'pg', 'body!*=A').sql).toBe(
      `select * from "t" where ("body" IS NULL OR NOT (strpos(translate("body", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), $1) > 0))`,
    );
  });

  it('compares MySQL text as binary strings and binds booleans as 0/1', () => {
    expect(sql(mysql, 'mysql', 'topic=Help&topic!=x')).toEqual({
      sql: 'select * from `t` where (CAST(`topic` AS BINARY) IN (CAST(? AS BINARY))) and (`topic` IS NULL OR NOT (CAST(`topic` AS BINARY) IN (CAST(? AS BINARY))))',
      bindings: ['Help', 'x'],
    });
    expect(sql(mysql, 'mysql', 'read=true').bindings).toEqual([1]);
    expect(sql(mysql, 'mysql', 'body~=a').sql).toBe('select * from `t` where (INSTR(CAST(`body` AS BINARY), CAST(? AS BINARY)) > 0)');
  });

  it('never emits LIKE', () => {
    for (const [db, client] of [[pg, 'pg'], [mysql, 'mysql']] as const) {
      for (const q of ['body~=%25', 'body!~=_', 'body*=x', 'body!*=x']) expect(sql(db, client, q).sql).not.toMatch(/like/i);
    }
  });
});

describe('hand-built conditions', () => {
  it('treats a value-taking condition with no values as matching nothing, and its negation as matching everything', () => {
    const pg = knex({ client: 'pg' });
    const where = [{ column: 'topic', op: 'eq' as const, values: [] }, { column: 'body', op: 'notcontains' as const, values: [] }];
    expect(applyWhere(pg('t'), { where, sort: [] }, 'pg').toSQL().sql).toBe(
      'select * from "t" where (1 = 0) and ("body" IS NULL OR NOT (1 = 0))',
    );
    expect(compilePredicate({ where: [where[0]], sort: [] })({ topic: 'a' })).toBe(false);
    expect(compilePredicate({ where: [where[1]], sort: [] })({ body: 'a' })).toBe(true);
  });

  it('binds a number by its value when the column kind is not given, and refuses an inexact one for an integer column', () => {
    const pg = knex({ client: 'pg' });
    const where = (values: number[], numeric?: 'integer' | 'real') => ({ where: [{ column: 'n', op: 'ge' as const, values, ...(numeric && { numeric }) }], sort: [] });
    expect(applyWhere(pg('t'), where([5]), 'pg').toSQL().sql).toBe('select * from "t" where ("n" >= CAST(? AS bigint))');
    expect(applyWhere(pg('t'), where([1e19]), 'pg').toSQL().sql).toBe('select * from "t" where ("n" >= CAST(? AS double precision))');
    for (const client of ['pg', 'sqlite', 'mysql'] as const) {
      let error: unknown;
      try {
        applyWhere(pg('t'), where([1e19], 'integer'), client);
      } catch (err) {
        error = err;
      }
      expect(error).toMatchObject({ code: 'MH_ERR_FILTER_VALUE', status: 400 });
    }
  });
});
