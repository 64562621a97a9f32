/**
 * @module store/sqlite-store
 * SQLite through better-sqlite3: synchronous, prepared statements, one transaction per batch.
 *
 * Writes run on one connection, synchronously: a batch is one transaction that never spans an `await`, so
 * nothing else on the event loop interleaves with it and no lock is held across turns. (knex per-row inserts
 * cost ~2× and its SQLite bulk insert breaks above 500 rows: see docs/performance.md.) WAL mode with
 * synchronous=NORMAL: a crash of the process loses nothing committed.
 *
 * History replays that need more than one page read from a separate read-only connection inside one read
 * transaction: WAL gives it a consistent snapshot while the writer goes on, so a 100k-row replay is paged
 * across event-loop turns without ever blocking writes or fan-out.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Knex } from 'knex';
import { MhError } from '../errors.js';
import { applyWhere, type Filter } from '../filter/index.js';
import type { ColumnDef, Row } from '../types.js';
import { Checkpointer, SAFETY_NET_PAGES } from './checkpointer.js';
import { POST_BY_REFERENCE, eventData, existingRow, postData, rowForPost } from './apply.js';
import { BaseStore, PAGE_SIZE, SPAN } from './base-store.js';
import { SEQ_COLUMN } from './columns.js';
import { CURSORS_TABLE, EVENTS_TABLE, SEQ_TABLE, alterTable, createCursorsTable, createEventsTable, createIndex, createSeqTable, createTable, indexName } from './schema.js';
import { REFS_TABLE, createRefsTable, findRefQuery, pruneRefsQuery, refFromDb, type RefRecord } from './refs.js';
import type { ReplayOptions, Retention, StoredEvent, WriteRequest, WriteResult } from './store.js';

/** Quotes an identifier for SQLite (names are validated at load; this is defence in depth). */
const q = (name: string): string => `"${name.replace(/"/g, '""')}"`;

function sqliteValue(v: unknown): unknown {
  return typeof v === 'boolean' ? (v ? 1 : 0) : v === undefined ? null : v;
}

/**
 * SQL that renders a row as the JSON of its history frame (the columns in order, then `_seq`), or NULL for a
 * row holding a value of another storage type than its column's (SQLite allows it; those rows are converted
 * in JS). Building the frame text in SQLite skips creating a JS value per column and JSON.stringify: replays
 * read ~1.8× faster. Only text and integer columns: their JSON is the same either way (SQLite prints reals
 * with 15 significant digits, and booleans are stored as 0/1).
 */
function rowJsonSql(columns: ReadonlyMap<string, ColumnDef>): string | null {
  const pairs: string[] = [];
  const checks: string[] = [];
  for (const c of columns.values()) {
    if (c.kind !== 'text' && c.kind !== 'integer') return null;
    pairs.push(`'${c.name.replace(/'/g, "''")}', ${q(c.name)}`);
    checks.push(`typeof(${q(c.name)}) IN ('${c.kind}', 'null')`);
  }
  return `CASE WHEN ${checks.join(' AND ')} THEN json_object(${pairs.join(', ')}, '${SEQ_COLUMN}', ifnull(${q(SEQ_COLUMN)}, 0)) END`;
}

/** Rows per multi-row INSERT for runs of POSTs in one transaction, largest first. */
const POST_RUNS = [32, 8];

/** Idle read-only connections kept for replays, per store. */
const MAX_IDLE_READERS = 4;

/** A request failed after it had started writing: the batch is redone with a savepoint per request. */
class PartialWrite extends Error {}

export class SqliteStore extends BaseStore {
  private db!: Database.Database;
  private readonly stmts = new Map<string, Database.Statement>();
  private readonly readers: Database.Database[] = [];
  /** Prepared statements per read-only connection (replays reuse a few shapes of query). */
  private readonly readerStmts = new WeakMap<Database.Database, Map<string, Database.Statement>>();
  /** Rows in the table, kept in step with every write: lets small tables skip paging and cutoff queries. */
  private rows = 0;
  /** Renders a row as its frame's JSON inside SQLite (null: some column's JSON is not SQLite's as is). */
  private readonly jsonSql = rowJsonSql(this.columns);
  /** Per filter shape (SQL text): whether an index serves it. */
  private readonly indexedShapes = new Map<string, boolean>();
  private checkpointer: Checkpointer | null = null;
  /**
   * Other processes on the same file. SQLite's `data_version` changes for this connection exactly when another
   * connection committed: while it stays put, `this.seq` and `this.rows` are the database's (one cheap pragma, no
   * read of `msghub_seq`). When it moves, the sequence is read again and the row count is no longer known.
   */
  private dataVersion!: Database.Statement;
  private readSeq!: Database.Statement;
  private version = 0;
  private rowsKnown = true;
  private txn!: Database.Transaction<(batch: readonly WriteRequest[]) => WriteResult[]>;
  private isolated!: Database.Transaction<(batch: readonly WriteRequest[]) => WriteResult[]>;

  async init(): Promise<void> {
    const file = this.target.filename!;
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    if (file !== ':memory:') this.startCheckpointer(file);
    const info = this.db.prepare(`PRAGMA table_info(${q(this.table)})`).all() as { name: string }[];
    const run = (sb: Knex.SchemaBuilder): void => {
      for (const s of sb.toSQL() as unknown as { sql: string; bindings: unknown[] }[]) this.db.prepare(s.sql).run(...(s.bindings ?? []));
    };
    const exists = (name: string): boolean => !!this.db.prepare(`SELECT 1 FROM sqlite_master WHERE type='table' AND name=?`).get(name);
    this.db
      .transaction(() => {
        if (info.length === 0) run(createTable(this.builder, this.table, this.columns, 'sqlite'));
        else {
          const existing = new Set(info.map((c) => c.name));
          const missing = this.missingColumns(existing);
          const addSeq = !existing.has(SEQ_COLUMN);
          if (missing.length || addSeq) run(alterTable(this.builder, this.table, missing, addSeq, 'sqlite'));
          // Rows written before msghub managed this table come first in history, in id order.
          if (addSeq) this.db.prepare(`UPDATE ${q(this.table)} SET ${q(SEQ_COLUMN)} = 0 WHERE ${q(SEQ_COLUMN)} IS NULL`).run();
        }
        for (const cols of this.indexes) {
          if (!this.db.prepare(`SELECT 1 FROM sqlite_master WHERE type='index' AND name=?`).get(indexName(this.table, cols))) run(createIndex(this.builder, this.table, cols));
        }
        if (!exists(EVENTS_TABLE)) run(createEventsTable(this.builder));
        if (!exists(CURSORS_TABLE)) run(createCursorsTable(this.builder));
        if (!exists(SEQ_TABLE)) run(createSeqTable(this.builder));
        if (!exists(REFS_TABLE)) run(createRefsTable(this.builder));
        // The table's sequence row: created from what the table and its record hold (a table from before the
        // row existed), and never moved backwards (another process may have started first).
        const maxEvent = this.db.prepare(`SELECT MAX(seq) AS m FROM ${q(EVENTS_TABLE)} WHERE tbl = ?`).get(this.table) as { m: number | null };
        const maxRow = this.db.prepare(`SELECT MAX(${q(SEQ_COLUMN)}) AS m FROM ${q(this.table)}`).get() as { m: number | null };
        this.db
          .prepare(`INSERT INTO ${q(SEQ_TABLE)} (tbl, seq) VALUES (?, ?) ON CONFLICT (tbl) DO UPDATE SET seq = MAX(seq, excluded.seq)`)
          .run(this.table, Math.max(Number(maxEvent.m ?? 0), Number(maxRow.m ?? 0)));
        this.seq = Number(this.db.prepare(`SELECT seq FROM ${q(SEQ_TABLE)} WHERE tbl = ?`).pluck().get(this.table));
        this.rows = Number((this.db.prepare(`SELECT COUNT(*) AS n FROM ${q(this.table)}`).get() as { n: number }).n);
      })
      .immediate();
    this.dataVersion = this.db.prepare('PRAGMA data_version').pluck();
    this.readSeq = this.db.prepare(`SELECT seq FROM ${q(SEQ_TABLE)} WHERE tbl = ?`).pluck();
    this.version = this.dataVersion.get() as number;
    this.prepareWrites();
  }

  private prepareWrites(): void {
    const cols = [...this.columns.keys(), SEQ_COLUMN];
    const selectById = this.db.prepare(`SELECT ${cols.map(q).join(', ')} FROM ${q(this.table)} WHERE id = ?`);
    const insertRow = this.db.prepare(`INSERT INTO ${q(this.table)} (${cols.map(q).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
    const deleteRow = this.db.prepare(`DELETE FROM ${q(this.table)} WHERE id = ?`);
    const insertEvent = this.db.prepare(`INSERT INTO ${q(EVENTS_TABLE)} (tbl, seq, method, id, data, ts) VALUES (?, ?, ?, ?, ?, ?)`);
    const fillPost = this.db.prepare(`UPDATE ${q(EVENTS_TABLE)} SET data = ? WHERE tbl = ? AND seq = ? AND data = ?`);
    // Runs of POSTs go in multi-row INSERTs: one statement per POST_RUNS rows instead of per row (a quarter of
    // the database time per message, measured). Sizes kept under SQLite's limit of 32766 bound values.
    const values = (width: number, rows: number): string => Array.from({ length: rows }, () => `(${Array(width).fill('?').join(', ')})`).join(', ');
    const runs = POST_RUNS.filter((n) => n * cols.length <= 32766).map((n) => ({
      n,
      rows: this.db.prepare(`INSERT INTO ${q(this.table)} (${cols.map(q).join(', ')}) VALUES ${values(cols.length, n)}`),
      events: this.db.prepare(`INSERT INTO ${q(EVENTS_TABLE)} (tbl, seq, method, id, data, ts) VALUES ${values(6, n)}`),
    }));

    // Applies one request. `wrote` turns true just before its first statement that changes anything: a throw
    // before that (a PUT of a missing row, another user's row) leaves nothing to undo.
    let wrote = false;
    // Every POST changes every column: one shared, frozen list.
    const allColumns: string[] = Object.freeze([...this.columns.keys()]) as string[];
    // The event record's `ts` (for pruning by age): one clock reading per transaction is precise enough.
    let batchTime = '';
    const apply = (req: WriteRequest, seq: number): StoredEvent => {
      let before: Row | null = null;
      let after: Row | null = null;
      let changed: string[];
      wrote = false;
      if (req.method === 'POST') {
        after = rowForPost(req, this.columns, seq);
        wrote = true;
        insertRow.run(...cols.map((c) => sqliteValue(after![c])));
        changed = allColumns;
      } else {
        before = existingRow(req, selectById.get(req.id) as Row | undefined, this.columns);
        wrote = true;
        // The row's last event, if it was its POST, refers to the row: give it the row before it changes.
        if (before[SEQ_COLUMN]) fillPost.run(postData(before), this.table, before[SEQ_COLUMN], POST_BY_REFERENCE);
        if (req.method === 'PUT') {
          changed = Object.keys(req.values);
          const set = [...changed, SEQ_COLUMN];
          this.prepare(`UPDATE ${q(this.table)} SET ${set.map((c) => `${q(c)} = ?`).join(', ')} WHERE id = ?`).run(
            ...changed.map((c) => sqliteValue(req.values[c])),
            seq,
            req.id,
          );
          after = { ...before, ...req.values, [SEQ_COLUMN]: seq };
        } else {
          deleteRow.run(req.id);
          changed = [];
        }
      }
      const event: StoredEvent = { seq, method: req.method, id: req.id, before, after, changed };
      insertEvent.run(this.table, seq, req.method, req.id, eventData(event), batchTime);
      if (req.extra) for (const { table, row } of req.extra(event)) this.insertInto(table, row);
      return event;
    };

    // `n` POSTs from batch[i], none with rows of its own for other tables (alerts), in two statements.
    const postRun = (batch: readonly WriteRequest[], i: number, run: (typeof runs)[number]): StoredEvent[] => {
      const rowValues: unknown[] = [];
      const eventValues: unknown[] = [];
      const events: StoredEvent[] = [];
      for (let k = 0; k < run.n; k++) {
        const req = batch[i + k]!;
        const seq = this.seq + 1 + k;
        const after = rowForPost(req, this.columns, seq);
        for (const c of cols) rowValues.push(sqliteValue(after[c]));
        eventValues.push(this.table, seq, 'POST', req.id, POST_BY_REFERENCE, batchTime);
        events.push({ seq, method: 'POST', id: req.id, before: null, after, changed: allColumns });
      }
      // Any failure (a duplicate id) fails the statement, with other rows in it: the batch is redone one
      // request at a time.
      wrote = true;
      try {
        run.rows.run(rowValues);
        run.events.run(eventValues);
      } catch {
        throw new PartialWrite();
      }
      return events;
    };
    const plainPosts = (batch: readonly WriteRequest[], i: number, n: number): boolean => {
      if (i + n > batch.length) return false;
      for (let k = i; k < i + n; k++) if (batch[k]!.method !== 'POST' || batch[k]!.extra) return false;
      return true;
    };

    const applied = (event: StoredEvent): WriteResult => {
      this.seq = event.seq;
      if (event.method === 'POST') this.rows++;
      else if (event.method === 'DELETE') this.rows--;
      return { ok: true, event };
    };
    const refused = (err: unknown, req: WriteRequest): WriteResult => ({ ok: false, error: this.refusal(err, req) });
    // The sequence row, under the write lock (BEGIN IMMEDIATE): read at the start of every batch (`observe`: a
    // pragma when no other process wrote), written once at its end.
    const writeSeq = this.db.prepare(`UPDATE ${q(SEQ_TABLE)} SET seq = ? WHERE tbl = ?`);
    const end = (first: number): void => {
      if (this.seq !== first) writeSeq.run(this.seq, this.table);
    };

    // The usual batch: no savepoint per request (two statements fewer per message). A request that fails
    // after it started writing aborts the whole transaction, which `isolated` then redoes.
    this.txn = this.db.transaction((batch: readonly WriteRequest[]): WriteResult[] => {
      batchTime = new Date().toISOString();
      const first = this.observe();
      const results: WriteResult[] = [];
      for (let i = 0; i < batch.length; ) {
        const run = runs.find((r) => plainPosts(batch, i, r.n));
        if (run) {
          for (const event of postRun(batch, i, run)) results.push(applied(event));
          i += run.n;
          continue;
        }
        const req = batch[i++]!;
        try {
          results.push(applied(apply(req, this.seq + 1)));
        } catch (err) {
          if (wrote) throw new PartialWrite();
          results.push(refused(err, req));
        }
      }
      end(first);
      return results;
    });

    // Each request in its own savepoint (better-sqlite3 nests transactions as savepoints): one that fails
    // midway is undone alone, the others commit.
    const one = this.db.transaction(apply);
    this.isolated = this.db.transaction((batch: readonly WriteRequest[]): WriteResult[] => {
      batchTime = new Date().toISOString();
      const first = this.observe();
      const results: WriteResult[] = [];
      for (const req of batch) {
        try {
          results.push(applied(one(req, this.seq + 1)));
        } catch (err) {
          results.push(refused(err, req));
        }
      }
      end(first);
      return results;
    });
  }

  /**
   * Catches up with other processes' commits (see `dataVersion`): returns the committed sequence as this
   * connection sees it now. Inside a transaction, that is the transaction's snapshot.
   */
  private observe(db: Database.Database = this.db): number {
    if (db !== this.db) return Number((this.readerStatement(db, `SELECT seq FROM ${q(SEQ_TABLE)} WHERE tbl = ?`).get(this.table) as { seq: number }).seq);
    const v = this.dataVersion.get() as number;
    if (v !== this.version) {
      this.version = v;
      const seq = Number(this.readSeq.get(this.table));
      if (seq !== this.seq) this.rowsKnown = false;
      if (seq > this.seq) this.seq = seq;
    }
    return this.seq;
  }

  async ping(): Promise<void> {
    if (!this.db?.open) throw new MhError('MH_ERR_STORE_UNAVAILABLE', ['the database is closed']);
    this.readSeq.get(this.table);
  }

  async committedSeq(): Promise<number> {
    return this.observe();
  }

  async write(batch: readonly WriteRequest[]): Promise<WriteResult[]> {
    const start = this.seq;
    const rows = this.rows;
    // A rolled-back batch may have caught up with other processes' commits: forget that it did, so the next
    // batch reads the sequence row again instead of trusting a rolled-back `this.seq`.
    const version = this.version;
    const known = this.rowsKnown;
    try {
      let results: WriteResult[];
      try {
        results = this.txn.immediate(batch);
      } catch (err) {
        if (!(err instanceof PartialWrite)) throw err;
        // Rolled back: nothing of the batch was committed. Redo it with a savepoint per request.
        this.seq = start;
        this.rows = rows;
        this.version = version;
        this.rowsKnown = known;
        results = this.isolated.immediate(batch);
      }
      this.checkpointer?.nudge();
      return results;
    } catch (err) {
      // The whole transaction failed (disk full, I/O error): nothing was committed, no sequence was used.
      this.seq = start;
      this.rows = rows;
      this.version = version;
      this.rowsKnown = known;
      const error = this.batchFailure(err);
      return batch.map(() => ({ ok: false as const, error }));
    }
  }

  async replay(filter: Filter, limit: number, onPage: (rows: Row[]) => void | Promise<void>, options: ReplayOptions = {}): Promise<number> {
    // What this process knows (a pragma: other processes' commits are read only when there are any).
    const known = this.observe();
    // An empty table has no history: skip building and running the queries (every new connection pays them).
    if (this.rowsKnown && this.rows === 0) return known;
    // A filter no index can serve is tested row by row: scan in bounded spans, pausing between them.
    const spans = filter.where.length > 0 && !this.filterUsesIndex(filter);
    const jsonSql = options.json && !filter.columns ? (this.jsonSql ?? undefined) : undefined;
    const small = this.rowsKnown && Math.min(this.historyCount(filter, limit), this.rows) <= PAGE_SIZE && !(spans && this.rows > SPAN);
    if (small || this.target.filename === ':memory:') {
      // One cheap page (or an in-memory database, which other connections cannot see): read it all in this turn,
      // in one read transaction, so another process's commit cannot fall between the snapshot and a query.
      const pages: Row[][] = [];
      const snapshot = this.readOnWriter(() => {
        const seq = this.observe();
        if (!this.rowsKnown) this.recount(this.db);
        const plan = this.historyPlan(filter, limit, { totalRows: this.rows, spansUpTo: spans ? seq : undefined, jsonSql });
        for (let step = plan.next(); !step.done; ) {
          if (step.value.query) step = plan.next(this.all(this.db, step.value.query));
          else {
            if (step.value.page) pages.push(step.value.page);
            step = plan.next();
          }
        }
        return seq;
      });
      for (const rows of pages) await onPage(rows);
      return snapshot;
    }
    // Many pages: a read transaction on a read-only connection holds the snapshot across turns (WAL), while
    // the writer goes on. BEGIN and the first SELECT run in this same turn, right after reading this.seq.
    // (No mmap for readers: at the start of every read transaction that follows a commit, SQLite empties the
    // reader's page cache and, with mmap, unmaps the whole file (pager.c, pagerBeginReadTransaction), so under
    // live writes the map never stays warm. Measured in the bench's server: each replay's first query took
    // 1.5–2 ms longer with a 1 GiB map, which the first frame pays, and rows/s gained only within the noise.
    // Also measured and dropped: reading the first ~3 ms of a replay on the writer connection, whose cache its own
    // commits keep, before moving to a reader. The first frame waited for that stretch (4–5 → 8–10 ms), and
    // rows/s did not gain reliably: a reader that starts after a commit was measured no slower than a warm one.)
    const reader = this.readers.pop() ?? new Database(this.target.filename!, { readonly: true });
    reader.exec('BEGIN');
    let snapshot: number;
    try {
      // The first read fixes the reader's snapshot: its sequence row says which commits it holds.
      snapshot = this.observe(reader);
      // The row count this process keeps is the snapshot's only if no other commit came in between.
      const totalRows = this.rowsKnown && snapshot === this.seq ? this.rows : undefined;
      const hints = { totalRows, spansUpTo: spans ? snapshot : undefined, jsonSql };
      const plan = this.historyPlan(filter, limit, hints);
      for (let step = plan.next(); !step.done; ) {
        if (step.value.query) step = plan.next(this.all(reader, step.value.query));
        else {
          if (step.value.page) await onPage(step.value.page);
          else await new Promise((resolve) => setImmediate(resolve));
          step = plan.next();
        }
      }
    } finally {
      reader.exec('COMMIT');
      if (this.readers.length < MAX_IDLE_READERS && this.db.open) this.readers.push(reader);
      else reader.close();
    }
    return snapshot;
  }

  /**
   * Whether SQLite's planner serves this filter from an index (`indexes:`, the primary key) rather than by
   * reading every row. Asked once per filter shape (the SQL text, not its values).
   */
  private filterUsesIndex(filter: Filter): boolean {
    const { sql, bindings } = applyWhere(this.builder(this.table).count({ n: '*' }), filter, 'sqlite').toSQL().toNative();
    let indexed = this.indexedShapes.get(sql);
    if (indexed === undefined) {
      const plan = this.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...(bindings as unknown[]).map(sqliteValue)) as { detail: string }[];
      // "SCAN t" (even "USING COVERING INDEX") reads every row; "SEARCH t USING INDEX …" narrows first.
      indexed = !plan.some((p) => /^SCAN\b/.test(p.detail));
      if (this.indexedShapes.size > 500) this.indexedShapes.clear();
      this.indexedShapes.set(sql, indexed);
    }
    return indexed;
  }

  async eventsSince(after: number, limit: number): Promise<StoredEvent[]> {
    return this.all(this.db, this.eventsQuery(after, limit)).map((r) => this.eventFromDb(r));
  }

  async oldestSeq(): Promise<number> {
    const r = this.prepare(`SELECT MIN(seq) AS m FROM ${q(EVENTS_TABLE)} WHERE tbl = ?`).get(this.table) as { m: number | null };
    return r.m === null ? this.seq + 1 : Number(r.m);
  }

  async prune(retention: Retention): Promise<number> {
    const cutoff = new Date(Date.now() - retention.maxAgeMs).toISOString();
    return this.prepare(`DELETE FROM ${q(EVENTS_TABLE)} WHERE tbl = ? AND (seq <= ? OR ts < ?)`).run(this.table, this.seq - retention.maxCount, cutoff).changes;
  }

  async findRef(scope: string, ref: string): Promise<RefRecord | null> {
    return refFromDb(this.all(this.db, findRefQuery(this.builder, this.table, scope, ref))[0]);
  }

  async pruneRefs(cutoff: string): Promise<number> {
    const { sql, bindings } = pruneRefsQuery(this.builder, this.table, cutoff).toSQL().toNative();
    return this.prepare(sql).run(...(bindings as unknown[])).changes;
  }

  async getCursor(handler: string, user: string): Promise<number | null> {
    const r = this.prepare(`SELECT seq FROM ${q(CURSORS_TABLE)} WHERE tbl = ? AND handler = ? AND user_id = ?`).get(this.table, handler, user) as { seq: number } | undefined;
    return r ? Number(r.seq) : null;
  }

  async setCursor(handler: string, user: string, seq: number): Promise<void> {
    this.prepare(
      `INSERT INTO ${q(CURSORS_TABLE)} (tbl, handler, user_id, seq, updated) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (tbl, handler, user_id) DO UPDATE SET seq = MAX(seq, excluded.seq), updated = excluded.updated`,
    ).run(this.table, handler, user, seq, new Date().toISOString());
  }

  /**
   * WAL checkpoints move to a worker thread (store/checkpointer.ts); the writer's own automatic checkpoint
   * stays as a high safety net, and returns to SQLite's default if the worker cannot run.
   */
  private startCheckpointer(file: string): void {
    try {
      this.checkpointer = Checkpointer.acquire(file, this.onCheckpointReport);
      this.db.pragma(`wal_autocheckpoint = ${SAFETY_NET_PAGES}`);
    } catch (err) {
      this.log('warn', `sqlite: WAL checkpoints stay on the writer (${file})`, err);
    }
  }

  private readonly onCheckpointReport = (error: string, fatal: boolean): void => {
    this.log('warn', `sqlite: WAL checkpoint of ${this.target.filename} failed${fatal ? '; checkpoints run on the writer again' : ''}`, error);
    if (fatal && this.db.open) {
      this.checkpointer = null;
      this.db.pragma('wal_autocheckpoint = 1000');
    }
  };

  /** Resolves once no WAL checkpoint is scheduled or running (tests; shutdown). */
  async checkpointsSettled(): Promise<void> {
    await this.checkpointer?.settled();
  }

  async close(): Promise<void> {
    for (const r of this.readers.splice(0)) r.close();
    // The checkpoint thread's connection closes first, so closing the writer (the last connection) can
    // checkpoint the whole WAL and remove it.
    const cp = this.checkpointer;
    this.checkpointer = null;
    await cp?.release(this.onCheckpointReport);
    if (this.db?.open) this.db.close();
    await this.builder.destroy();
  }

  private all(db: Database.Database, qb: Knex.QueryBuilder): Row[] {
    const { sql, bindings } = qb.toSQL().toNative();
    const stmt = db === this.db ? this.prepare(sql) : this.readerStatement(db, sql);
    return stmt.all(...(bindings as unknown[]).map(sqliteValue)) as Row[];
  }

  /** A prepared statement of a read-only connection (replays reuse a few shapes of query). */
  private readerStatement(db: Database.Database, sql: string): Database.Statement {
    let cache = this.readerStmts.get(db);
    if (!cache) this.readerStmts.set(db, (cache = new Map()));
    let stmt = cache.get(sql);
    if (!stmt) {
      stmt = db.prepare(sql);
      if (cache.size < 100) cache.set(sql, stmt);
    }
    return stmt;
  }

  /** Runs `fn` in a read transaction on the writer connection (one snapshot for all its statements). */
  private readOnWriter<T>(fn: () => T): T {
    return (this.readTxn ??= this.db.transaction((f: () => unknown) => f()))(fn) as T;
  }
  private readTxn: Database.Transaction<(f: () => unknown) => unknown> | null = null;

  /** Counts the table's rows again (another process changed it). */
  private recount(db: Database.Database): void {
    this.rows = Number((db.prepare(`SELECT COUNT(*) AS n FROM ${q(this.table)}`).get() as { n: number }).n);
    this.rowsKnown = true;
  }

  private prepare(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      // Bounded: statement text depends on the filter's shape, not its values, but shapes are unbounded.
      if (this.stmts.size > 500) this.stmts.clear();
      s = this.db.prepare(sql);
      this.stmts.set(sql, s);
    }
    return s;
  }

  private insertInto(table: string, row: Row): void {
    const keys = Object.keys(row);
    this.prepare(`INSERT INTO ${q(table)} (${keys.map(q).join(', ')}) VALUES (${keys.map(() => '?').join(', ')})`).run(...keys.map((k) => sqliteValue(row[k])));
  }
}
