/**
 * @module store/knex-store
 * PostgreSQL and MySQL/MariaDB through knex. Each batch is a transaction, each request a savepoint; replays
 * read one REPEATABLE READ snapshot page by page. On PostgreSQL a batch of plain POSTs (the common case) is one
 * statement instead, committed on its own: the sequence row, the rows and their event records in one round trip
 * (`pgPostBatch`); only when the database refuses it is the batch redone as a transaction, request by request.
 */
import type { Knex } from 'knex';
import { MhError } from '../errors.js';
import type { Filter } from '../filter/index.js';
import type { Row } from '../types.js';
import { POST_BY_REFERENCE, eventData, existingRow, postData, rowForPost } from './apply.js';
import { BaseStore } from './base-store.js';
import { SEQ_COLUMN } from './columns.js';
import { classifyDriverError, unavailableCode } from './driver-errors.js';
import { CURSORS_TABLE, EVENTS_TABLE, SEQ_TABLE, alterTable, createCursorsTable, createEventsTable, createIndex, createSeqTable, createTable, indexName } from './schema.js';
import { REFS_TABLE, createRefsTable, findRefQuery, pruneRefsQuery, refFromDb, type RefRecord } from './refs.js';
import type { Retention, StoredEvent, WriteRequest, WriteResult } from './store.js';

export class KnexStore extends BaseStore {
  /**
   * Rows per multi-row INSERT: at most 256, and few enough that a run's bound values stay well below the 65535
   * PostgreSQL and MySQL allow in one statement, however many columns the table has.
   */
  private readonly postRunMax = Math.max(1, Math.min(256, Math.floor(30_000 / (this.columns.size + 1))));
  /**
   * Rows per statement of PostgreSQL's one-statement path (pgRunSql): a whole batch of the group commit (at most
   * 1000) in one statement while its bound values stay under 60,000 (the protocol's limit is 65,535). Its
   * planning time grows little with the rows (a VALUES list), so one statement beats BEGIN, two, COMMIT.
   */
  private readonly pgRunMax = Math.max(1, Math.min(1000, Math.floor(60_000 / this.columns.size)));
  /** PostgreSQL: the columns' base types, read by init() for pgRunSql (null: no one-statement path). */
  private pgTypes: string[] | null = null;
  /** write() calls run one after another: sequence numbers are assigned from this.seq inside them. */
  private chain: Promise<unknown> = Promise.resolve();

  async init(): Promise<void> {
    const k = this.builder;
    await k.transaction(async (trx) => {
      if (!(await trx.schema.hasTable(this.table))) {
        await createTable(trx, this.table, this.columns, this.client);
      } else {
        const existing = new Set(Object.keys(await trx(this.table).columnInfo()));
        const missing = this.missingColumns(existing);
        const addSeq = !existing.has(SEQ_COLUMN);
        if (missing.length || addSeq) await alterTable(trx, this.table, missing, addSeq, this.client);
        if (addSeq) await trx(this.table).whereNull(SEQ_COLUMN).update({ [SEQ_COLUMN]: 0 });
      }
    });
    for (const cols of this.indexes) if (!(await this.hasIndex(indexName(this.table, cols)))) await createIndex(k, this.table, cols);
    // Shared tables: another handler or process may create them at the same moment; re-check on failure.
    for (const [name, create] of [
      [EVENTS_TABLE, createEventsTable],
      [CURSORS_TABLE, createCursorsTable],
      [SEQ_TABLE, createSeqTable],
      [REFS_TABLE, createRefsTable],
    ] as const) {
      if (await k.schema.hasTable(name)) continue;
      try {
        await create(k);
      } catch (err) {
        if (!(await k.schema.hasTable(name))) throw err;
      }
    }
    // The table's sequence row: created from what the table and its record hold (a table from before the row
    // existed), and never moved backwards (another process may have started first, or be writing now).
    const maxEvent = await k(EVENTS_TABLE).where('tbl', this.table).max({ m: 'seq' }).first();
    const maxRow = await k(this.table).max({ m: SEQ_COLUMN }).first();
    const found = Math.max(Number(maxEvent?.m ?? 0), Number(maxRow?.m ?? 0));
    await k(SEQ_TABLE)
      .insert({ tbl: this.table, seq: found })
      .onConflict('tbl')
      .merge({ seq: k.raw(this.client === 'pg' ? `GREATEST(${SEQ_TABLE}.seq, EXCLUDED.seq)` : 'GREATEST(seq, VALUES(seq))') });
    this.seq = await this.committedSeq();
    if (this.client === 'pg') this.pgTypes = await this.pgColumnTypes();
  }

  async committedSeq(): Promise<number> {
    const row = (await this.read(() => this.builder(SEQ_TABLE).where('tbl', this.table).first('seq'))) as { seq: number | string } | undefined;
    const seq = Number(row?.seq ?? 0);
    if (seq > this.seq) this.seq = seq;
    return seq;
  }

  /**
   * Runs a read; while the database cannot be reached it throws the catalogued MH_ERR_STORE_UNAVAILABLE (see
   * BaseStore.readFailure), so a refused subscription or read is a 503, not an internal error. Reads need no
   * recovery of their own: the pool connects afresh once the database is back.
   */
  private async read<T>(run: () => PromiseLike<T>, passThrough?: (err: unknown) => boolean): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw passThrough?.(err) ? err : this.readFailure(err);
    }
  }

  async ping(): Promise<void> {
    await this.read(() => this.builder(SEQ_TABLE).where('tbl', this.table).first('seq'));
  }

  private async hasIndex(name: string): Promise<boolean> {
    const k = this.builder;
    const rows =
      this.client === 'pg'
        ? await k('pg_indexes').where({ tablename: this.table, indexname: name }).select(k.raw('1'))
        : await k('information_schema.statistics').where({ table_name: this.table, index_name: name }).andWhere('table_schema', k.raw('DATABASE()')).select(k.raw('1'));
    return rows.length > 0;
  }

  write(batch: readonly WriteRequest[]): Promise<WriteResult[]> {
    const p = this.chain.then(() => this.writeNow(batch));
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async writeNow(batch: readonly WriteRequest[]): Promise<WriteResult[]> {
    // PostgreSQL, a batch of plain POSTs only (the common case): the sequence, the rows and their event records
    // in one statement per run. Refused (a duplicate id, a value too long): nothing of it was written, and the
    // batch is redone below one request per savepoint, so only the bad request is refused.
    if (this.client === 'pg' && plainPostRun(batch, 0, batch.length) === batch.length) {
      const done = await this.pgPostBatch(batch);
      if (done) return done;
      return this.writeTxn(batch, true);
    }
    return this.writeTxn(batch, false);
  }

  /**
   * The batch in one transaction: the sequence row locked first, runs of plain POSTs as multi-row INSERTs in a
   * savepoint (unless `perRequest`: a redo after the whole batch was refused), every other request in a
   * savepoint of its own.
   */
  private async writeTxn(batch: readonly WriteRequest[], perRequest: boolean): Promise<WriteResult[]> {
    const start = this.seq;
    const results: WriteResult[] = [];
    // Set once every statement ran: a failure after it is one of the COMMIT, whose outcome a broken connection
    // leaves unknown.
    let committing = false;
    try {
      await this.builder.transaction(async (trx) => {
        // The table's sequence row, locked until the commit: writers of this table (in any process) take turns
        // here, so sequence numbers are assigned in commit order.
        const row = (await trx(SEQ_TABLE).where('tbl', this.table).forUpdate().first('seq')) as { seq: number | string } | undefined;
        const first = Number(row?.seq ?? 0);
        let seq = first;
        for (let i = 0; i < batch.length; ) {
          // A run of plain POSTs (the common case) is two multi-row INSERTs in one savepoint: four round trips for
          // the run instead of four per message. Any failure in it (a duplicate id, a value too long) undoes the
          // savepoint alone, and the run is applied again one request at a time, so only the bad one is refused.
          const run = perRequest ? 0 : plainPostRun(batch, i, this.postRunMax);
          if (run > 1) {
            const events = await this.postRun(trx, batch.slice(i, i + run), seq);
            if (events) {
              for (const event of events) results.push({ ok: true, event });
              seq += run;
              i += run;
              continue;
            }
          }
          for (const end = i + Math.max(run, 1); i < end; i++) {
            const req = batch[i]!;
            try {
              const event = await trx.transaction((sp) => this.applyOne(sp, req, seq + 1));
              seq = event.seq;
              results.push({ ok: true, event });
            } catch (err) {
              // A lost connection fails the whole batch (below), not this request alone.
              if (endsTransaction(err)) throw err;
              results.push({ ok: false, error: err instanceof MhError ? err : await this.knexRefusal(err, req) });
            }
          }
        }
        if (seq !== first) await trx(SEQ_TABLE).where('tbl', this.table).update({ seq });
        committing = true;
        this.seq = Math.max(this.seq, seq);
      });
      return results;
    } catch (err) {
      this.seq = start;
      // Only a batch that wrote something can be in doubt.
      const error = this.batchFailure(err, committing && results.some((r) => r.ok));
      return batch.map(() => ({ ok: false as const, error }));
    }
  }

  /**
   * {@link BaseStore.refusal}, naming the columns of a unique index MySQL named only by its name (PostgreSQL
   * names the columns in the error's detail).
   */
  private async knexRefusal(err: unknown, req: WriteRequest): Promise<MhError> {
    const fault = classifyDriverError(err, this.client);
    if (this.client === 'mysql' && fault.kind === 'unique' && fault.columns.length === 0 && fault.index !== undefined && !fault.primary) {
      fault.columns = await this.indexColumns(fault.index);
    }
    return this.refusal(err, req, fault);
  }

  /** Index name → its columns, read once per index (only after a clash: never on the write path). */
  private readonly indexColumnCache = new Map<string, string[]>();

  private async indexColumns(index: string): Promise<string[]> {
    const known = this.indexColumnCache.get(index);
    if (known) return known;
    try {
      const rows = (await this.builder('information_schema.statistics')
        .select({ c: 'column_name' })
        .where({ table_name: this.table, index_name: index })
        .andWhere('table_schema', this.builder.raw('DATABASE()'))
        .orderBy('seq_in_index')) as { c: string }[];
      const cols = rows.map((r) => String(r.c));
      // Bounded by the table's indexes, unless the database invents names: then stop remembering.
      if (this.indexColumnCache.size < 64) this.indexColumnCache.set(index, cols);
      return cols;
    } catch {
      return [];
    }
  }

  /**
   * PostgreSQL: a batch of plain POSTs as one statement per run of at most `pgRunMax` rows, each of which
   * advances the table's sequence row by the run's length (`UPDATE … RETURNING`, which also takes the row's lock
   * until the commit) and inserts the rows and their event records, numbered from what it returned (see
   * {@link pgRunSql}). One run is one round trip, committed on its own (no BEGIN, no COMMIT); several are one
   * transaction (BEGIN, the runs, COMMIT).
   *
   * Returns the results; or null when the database refused the batch (a constraint, a value that does not fit):
   * then it was rolled back whole, nothing was written, no number was used, and the caller redoes it request by
   * request. A lost connection after a statement was sent leaves the outcome unknown: every request then fails
   * with MH_ERR_STORE_UNAVAILABLE saying so (what did commit reaches subscribers through the feed's gap fill).
   */
  private async pgPostBatch(batch: readonly WriteRequest[]): Promise<WriteResult[] | null> {
    const types = this.pgTypes;
    if (!types) return null;
    const client = this.builder.client as { acquireConnection(): Promise<PgConnection>; releaseConnection(c: PgConnection): Promise<unknown> };
    let conn: PgConnection;
    try {
      conn = await client.acquireConnection();
    } catch (err) {
      // Nothing was sent: not in doubt.
      const error = this.batchFailure(err);
      return batch.map(() => ({ ok: false as const, error }));
    }
    const allColumns = [...this.columns.keys()];
    const ts = new Date().toISOString();
    const rows = batch.map((req) => rowForPost(req, this.columns, 0));
    const runs = Math.ceil(batch.length / this.pgRunMax);
    let sent = false;
    let inTxn = false;
    try {
      const last: number[] = [];
      if (runs > 1) {
        sent = true;
        await conn.query('BEGIN');
        inTxn = true;
      }
      for (let from = 0; from < batch.length; from += this.pgRunMax) {
        const to = Math.min(batch.length, from + this.pgRunMax);
        const { text, values } = this.pgRunSql(rows, from, to, allColumns, types, ts);
        sent = true;
        const res = await conn.query(text, values);
        const base = res.rows[0]?.base;
        // No sequence row (removed behind msghub's back): the statement inserted nothing; the transaction path
        // deals with it.
        if (base === undefined || base === null) throw new NoSeqRow();
        last.push(Number(base) + (to - from));
      }
      if (inTxn) {
        await conn.query('COMMIT');
        inTxn = false;
      }
      const results: WriteResult[] = [];
      for (let r = 0, from = 0; from < batch.length; r++, from += this.pgRunMax) {
        const to = Math.min(batch.length, from + this.pgRunMax);
        const base = last[r]! - (to - from);
        for (let k = from; k < to; k++) {
          const after = rows[k]!;
          after[SEQ_COLUMN] = base + 1 + (k - from);
          results.push({ ok: true, event: { seq: base + 1 + (k - from), method: 'POST', id: batch[k]!.id, before: null, after, changed: allColumns } });
        }
      }
      this.seq = Math.max(this.seq, last[last.length - 1]!);
      return results;
    } catch (err) {
      if (inTxn) await conn.query('ROLLBACK').catch(() => undefined);
      if (err instanceof NoSeqRow) return null;
      if (endsTransaction(err)) {
        const error = this.batchFailure(err, sent);
        return batch.map(() => ({ ok: false as const, error }));
      }
      return null;
    } finally {
      await client.releaseConnection(conn);
    }
  }

  /**
   * One run's statement (PostgreSQL). `s` advances the sequence row by the run's length (taking its lock until the
   * commit) and gives the number before the run; `v` is the run's values, numbered 1…n; `r` inserts the rows and
   * `e` their event records, both numbered base + k. Without a sequence row `s` is empty, so nothing is inserted
   * and the statement returns no row. The values are cast to their columns' base types (no length or precision:
   * the INSERT's own assignment checks those, and refuses a value too long rather than cut it), as a VALUES list
   * in a SELECT would otherwise type them text; the casts are what the database does to an untyped parameter
   * anyway. (Typing each parameter by its column through `INSERT … VALUES` with a scalar subquery for `_seq`
   * cost 6–13 ms of planning for 160 rows, against 0.4 ms for this.)
   */
  private pgRunSql(rows: readonly Row[], from: number, to: number, columns: readonly string[], types: readonly string[], ts: string): { text: string; values: unknown[] } {
    const n = to - from;
    const values: unknown[] = [this.table, ts];
    let p = 2;
    let tuples = '';
    for (let k = from; k < to; k++) {
      const row = rows[k]!;
      tuples += k === from ? `(${k - from + 1}` : `,(${k - from + 1}`;
      for (const c of columns) {
        values.push(row[c]);
        tuples += `,$${++p}`;
      }
      tuples += ')';
    }
    const names = columns.map((_, i) => `c${i}`).join(',');
    const casts = columns.map((_, i) => `v.c${i}::${types[i]}`).join(',');
    const idAt = columns.indexOf('id');
    const text =
      `WITH s AS (UPDATE ${SEQ_TABLE} SET seq = seq + ${n} WHERE tbl = $1 RETURNING seq - ${n} AS base), ` +
      `v (k,${names}) AS (VALUES ${tuples}), ` +
      `r AS (INSERT INTO ${quoteIdent(this.table)} (${[...columns, SEQ_COLUMN].map(quoteIdent).join(',')}) SELECT ${casts}, s.base + v.k FROM s, v), ` +
      `e AS (INSERT INTO ${EVENTS_TABLE} (tbl, seq, method, id, data, ts) SELECT $1, s.base + v.k, 'POST', v.c${idAt}, '', $2 FROM s, v) ` +
      `SELECT base FROM s`;
    return { text, values };
  }

  /**
   * PostgreSQL: each column's base type (schema-qualified, without length or precision) for pgRunSql's casts,
   * in column order; null when one cannot be read (then batches take the transaction path).
   */
  private async pgColumnTypes(): Promise<string[] | null> {
    const res = (await this.builder.raw(
      `SELECT a.attname AS name, quote_ident(n.nspname) || '.' || quote_ident(t.typname) AS type
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE a.attrelid = to_regclass(quote_ident(?)) AND a.attnum > 0 AND NOT a.attisdropped`,
      [this.table],
    )) as { rows: { name: string; type: string }[] };
    const byName = new Map(res.rows.map((r) => [r.name, r.type] as const));
    const types = [...this.columns.keys()].map((c) => byName.get(c));
    // The event record's id is the row's (v's id column): the same text as the request's id for a text column.
    return types.every((t): t is string => typeof t === 'string') && this.columns.get('id')?.kind === 'text' ? types : null;
  }

  /**
   * Inserts a run of plain POSTs (sequence numbers after `seq`) with one INSERT for the rows and one for their
   * event records, in a savepoint. Returns null (the savepoint undone, nothing written) when the database refused
   * any of it; a lost connection throws.
   */
  private async postRun(trx: Knex.Transaction, reqs: readonly WriteRequest[], seq: number): Promise<StoredEvent[] | null> {
    const allColumns = [...this.columns.keys()];
    const ts = new Date().toISOString();
    const events: StoredEvent[] = reqs.map((req, k) => ({
      seq: seq + 1 + k,
      method: 'POST',
      id: req.id,
      before: null,
      after: rowForPost(req, this.columns, seq + 1 + k),
      changed: allColumns,
    }));
    try {
      await trx.transaction(async (sp) => {
        await sp(this.table).insert(events.map((e) => e.after!));
        await sp(EVENTS_TABLE).insert(events.map((e) => ({ tbl: this.table, seq: e.seq, method: 'POST', id: e.id, data: POST_BY_REFERENCE, ts })));
      });
      return events;
    } catch (err) {
      if (endsTransaction(err)) throw err;
      return null;
    }
  }

  private async applyOne(trx: Knex.Transaction, req: WriteRequest, seq: number): Promise<StoredEvent> {
    let before: Row | null = null;
    let after: Row | null = null;
    let changed: string[];
    const cols = [...this.columns.keys(), SEQ_COLUMN];
    if (req.method === 'POST') {
      after = rowForPost(req, this.columns, seq);
      await trx(this.table).insert(after);
      changed = [...this.columns.keys()];
    } else {
      // FOR UPDATE: another msghub process on the same database cannot change the row between check and write.
      before = existingRow(req, (await trx(this.table).select(cols).where('id', req.id).forUpdate().first()) as Row | undefined, this.columns);
      // The row's last event, if it was its POST, refers to the row: give it the row before it changes.
      if (before[SEQ_COLUMN]) {
        await trx(EVENTS_TABLE).where({ tbl: this.table, seq: before[SEQ_COLUMN], data: POST_BY_REFERENCE }).update({ data: postData(before) });
      }
      if (req.method === 'PUT') {
        changed = Object.keys(req.values);
        await trx(this.table)
          .where('id', req.id)
          .update({ ...req.values, [SEQ_COLUMN]: seq });
        after = { ...before, ...req.values, [SEQ_COLUMN]: seq };
      } else {
        await trx(this.table).where('id', req.id).delete();
        changed = [];
      }
    }
    const event: StoredEvent = { seq, method: req.method, id: req.id, before, after, changed };
    await trx(EVENTS_TABLE).insert({ tbl: this.table, seq, method: req.method, id: req.id, data: eventData(event), ts: new Date().toISOString() });
    if (req.extra) for (const { table, row } of req.extra(event)) await trx(table).insert(row);
    return event;
  }

  // (No pre-rendered rows here: `options.json` is a hint this store does not take.)
  async replay(filter: Filter, limit: number, onPage: (rows: Row[]) => void | Promise<void>): Promise<number> {
    // What the caller's page callback throws (a closed socket) passes through as is: only the database's own
    // errors are classified (a client's EPIPE is not the database going away).
    const fromPage = new WeakSet<object>();
    const page = async (rows: Row[]): Promise<void> => {
      try {
        await onPage(rows);
      } catch (err) {
        if (err !== null && typeof err === 'object') fromPage.add(err);
        throw err;
      }
    };
    // One REPEATABLE READ transaction: the sequence row and every page come from the same snapshot.
    const snapshotRead = (): Promise<number> =>
      this.builder.transaction(
        async (trx) => {
          // The first read fixes the snapshot: the sequence row says which commits it holds.
          const top = (await trx(SEQ_TABLE).where('tbl', this.table).first('seq')) as { seq: number | string } | undefined;
          const snapshot = Number(top?.seq ?? 0);
          if (snapshot > this.seq) this.seq = snapshot;
          const plan = this.historyPlan(filter, limit);
          for (let step = plan.next(); !step.done; ) {
            if (step.value.query) step = plan.next((await step.value.query.transacting(trx)) as Row[]);
            else {
              // (A pause needs nothing here: every query is already a turn of its own.)
              if (step.value.page) await page(step.value.page);
              step = plan.next();
            }
          }
          return snapshot;
        },
        { isolationLevel: 'repeatable read', readOnly: this.client === 'pg' },
      );
    return this.read(snapshotRead, (err) => err !== null && typeof err === 'object' && fromPage.has(err));
  }

  async eventsSince(after: number, limit: number): Promise<StoredEvent[]> {
    return ((await this.read(() => this.eventsQuery(after, limit))) as Row[]).map((r) => this.eventFromDb(r));
  }

  async oldestSeq(): Promise<number> {
    const r = await this.read(() => this.builder(EVENTS_TABLE).where('tbl', this.table).min({ m: 'seq' }).first());
    return r?.m === null || r?.m === undefined ? this.seq + 1 : Number(r.m);
  }

  async prune(retention: Retention): Promise<number> {
    const cutoff = new Date(Date.now() - retention.maxAgeMs).toISOString();
    return this.read(() =>
      this.builder(EVENTS_TABLE)
        .where('tbl', this.table)
        .andWhere((w) => w.where('seq', '<=', this.seq - retention.maxCount).orWhere('ts', '<', cutoff))
        .delete(),
    );
  }

  async findRef(scope: string, ref: string): Promise<RefRecord | null> {
    return refFromDb(((await this.read(() => findRefQuery(this.builder, this.table, scope, ref))) as Row[])[0]);
  }

  async pruneRefs(cutoff: string): Promise<number> {
    return this.read(() => pruneRefsQuery(this.builder, this.table, cutoff)) as Promise<number>;
  }

  async getCursor(handler: string, user: string): Promise<number | null> {
    const r = await this.read(() => this.builder(CURSORS_TABLE).select('seq').where({ tbl: this.table, handler, user_id: user }).first());
    return r ? Number(r.seq) : null;
  }

  async setCursor(handler: string, user: string, seq: number): Promise<void> {
    const row = { tbl: this.table, handler, user_id: user, seq, updated: new Date().toISOString() };
    const k = this.builder;
    await this.read(() =>
      k(CURSORS_TABLE)
        .insert(row)
        .onConflict(['tbl', 'handler', 'user_id'])
        .merge({
          seq: k.raw(this.client === 'pg' ? `GREATEST(${CURSORS_TABLE}.seq, EXCLUDED.seq)` : 'GREATEST(seq, VALUES(seq))'),
          updated: row.updated,
        }),
    );
  }

  async close(): Promise<void> {
    await this.builder.destroy();
  }
}

/** The driver connection knex's pool hands out for PostgreSQL (`pg`'s Client), as much of it as is used here. */
interface PgConnection {
  query(text: string, values?: unknown[]): Promise<{ rows: { base?: number | string | null }[] }>;
}

/** Thrown inside pgPostBatch when the table has no sequence row: the batch goes the transaction path. */
class NoSeqRow extends Error {}

/** A PostgreSQL identifier, quoted. */
function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** How many requests from `i` on are plain POSTs (no rows for other tables), at most `max`. */
function plainPostRun(batch: readonly WriteRequest[], i: number, max: number): number {
  let n = 0;
  while (i + n < batch.length && n < max && batch[i + n]!.method === 'POST' && !batch[i + n]!.extra) n++;
  return n;
}

/**
 * Whether a failed statement took the whole transaction with it, so the batch must fail as one (the requests
 * already applied in it are gone too), rather than be one refused request: a lost connection, and on MySQL a
 * deadlock or lock-wait timeout, after which InnoDB has rolled back the transaction (a savepoint does not survive
 * it, and later statements would run outside any transaction).
 */
function endsTransaction(err: unknown): boolean {
  if (err instanceof MhError) return false;
  if (unavailableCode(err) !== undefined) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ER_LOCK_DEADLOCK' || code === 'ER_LOCK_WAIT_TIMEOUT';
}
