/**
 * @module store/schema
 * DDL through knex's schema builder, so one description of the columns creates the same table on SQLite,
 * PostgreSQL and MySQL/MariaDB: create the message table if missing, add missing columns to an existing table
 * (rows are kept; existing columns are never changed or dropped), and create the event record.
 */
import type { Knex } from 'knex';
import type { ColumnDef } from '../types.js';
import type { DbClient } from './db-url.js';
import { SEQ_COLUMN } from './columns.js';

/** The event record: one row per committed event, for every message table in the database. */
export const EVENTS_TABLE = 'msghub_events';

/** Adds one column definition to a knex table builder. */
export function addColumn(t: Knex.CreateTableBuilder | Knex.AlterTableBuilder, def: ColumnDef, client: DbClient, altering = false): void {
  const params = /\((\d+)(?:\s*,\s*(\d+))?\)/.exec(def.type);
  const base = def.type.replace(/\(.*$/, '');
  let col: Knex.ColumnBuilder;
  switch (def.kind) {
    case 'text':
      if ((base === 'VARCHAR' || base === 'CHAR' || base === 'NVARCHAR') && params) col = t.string(def.name, Number(params[1]));
      // MySQL cannot index or key a TEXT column without a prefix length.
      else if (def.primaryKey && client === 'mysql') col = t.string(def.name, 191);
      else if (['TEXT', 'STRING', 'CLOB', 'VARCHAR', 'CHAR', 'NVARCHAR'].includes(base)) col = t.text(def.name);
      else col = t.specificType(def.name, def.type);
      break;
    case 'integer':
      if (def.autoincrement && !altering) col = t.increments(def.name, { primaryKey: def.primaryKey });
      else col = base === 'BIGINT' ? t.bigInteger(def.name) : t.integer(def.name);
      break;
    case 'real':
      col = base === 'NUMERIC' || base === 'DECIMAL' ? t.decimal(def.name, params ? Number(params[1]) : 18, params?.[2] ? Number(params[2]) : 6) : t.double(def.name);
      break;
    case 'boolean':
      col = t.boolean(def.name);
      break;
  }
  // Adding a NOT NULL column without a default to a table with rows fails everywhere: add it nullable.
  if (!def.nullable && !(altering && def.default === undefined)) col.notNullable();
  if (def.default !== undefined && def.default !== null) col.defaultTo(def.default);
}

/** The statements that create the message table. */
export function createTable(knex: Knex, table: string, columns: ReadonlyMap<string, ColumnDef>, client: DbClient): Knex.SchemaBuilder {
  return knex.schema.createTable(table, (t) => {
    for (const def of columns.values()) addColumn(t, def, client);
    t.bigInteger(SEQ_COLUMN);
    const pk = [...columns.values()].filter((c) => c.primaryKey && !c.autoincrement).map((c) => c.name);
    if (pk.length) t.primary(pk);
    // (_seq, id): history pages walk this index in order, and the cutoff of "the newest N rows" reads it alone.
    t.index([SEQ_COLUMN, 'id'], `${table}__seq_id_idx`);
  });
}

/** The statements that add `missing` columns (and `_seq` if needed) to an existing table. */
export function alterTable(knex: Knex, table: string, missing: ColumnDef[], addSeq: boolean, client: DbClient): Knex.SchemaBuilder {
  return knex.schema.alterTable(table, (t) => {
    for (const def of missing) addColumn(t, def, client, true);
    if (addSeq) {
      t.bigInteger(SEQ_COLUMN);
      t.index([SEQ_COLUMN, 'id'], `${table}__seq_id_idx`);
    }
  });
}

/**
 * The sequence of every message table in the database: one row per table, holding the last `_seq` committed.
 * Every write transaction reads and advances its table's row (locking it on PostgreSQL and MySQL, under SQLite's
 * write lock), so `_seq` is assigned in commit order by the database, whatever number of processes write.
 */
export const SEQ_TABLE = 'msghub_seq';

export function createSeqTable(knex: Knex): Knex.SchemaBuilder {
  return knex.schema.createTable(SEQ_TABLE, (t) => {
    t.string('tbl', 128).notNullable().primary();
    t.bigInteger('seq').notNullable();
  });
}

/** The statements that create the event record. */
export function createEventsTable(knex: Knex): Knex.SchemaBuilder {
  return knex.schema.createTable(EVENTS_TABLE, (t) => {
    t.string('tbl', 128).notNullable();
    t.bigInteger('seq').notNullable();
    t.string('method', 8).notNullable();
    t.text('id').notNullable();
    // JSON {before, after, changed}: enough to match the event against any filter when a client resumes. A POST's
    // record holds '' until its row changes: the row, at the same `_seq`, is the data (store/apply.ts).
    t.text('data').notNullable();
    t.string('ts', 32).notNullable();
    t.primary(['tbl', 'seq']);
  });
}

/** Durable subscriptions: each user's acknowledged position per handler. */
export const CURSORS_TABLE = 'msghub_cursors';

/** The statements that create the cursor table. */
export function createCursorsTable(knex: Knex): Knex.SchemaBuilder {
  return knex.schema.createTable(CURSORS_TABLE, (t) => {
    t.string('tbl', 128).notNullable();
    t.string('handler', 128).notNullable();
    t.string('user_id', 191).notNullable();
    t.bigInteger('seq').notNullable();
    t.string('updated', 32).notNullable();
    t.primary(['tbl', 'handler', 'user_id']);
  });
}

/** The name of an extra index (`indexes:` kwarg), at most 63 characters. */
export function indexName(table: string, columns: readonly string[]): string {
  return `${table}__${columns.join('_')}_idx`.slice(0, 63);
}

/** The statements that add an extra index: its columns, then `(_seq, id)` so history pages can walk it in order. */
export function createIndex(knex: Knex, table: string, columns: readonly string[]): Knex.SchemaBuilder {
  return knex.schema.alterTable(table, (t) => {
    t.index([...columns, SEQ_COLUMN, 'id'], indexName(table, columns));
  });
}
