// The cluster scenario's PostgreSQL floor (bench/scenarios/cluster.mjs): a raw `pg` batched insert of the very rows
// msghub just stored on PostgreSQL, into copies of its tables (`CREATE TABLE … (LIKE … INCLUDING ALL)`: same
// columns, keys and indexes), one transaction per `batch` rows (the messages per transaction msghub itself
// reached), each batch one multi-row INSERT (split only where PostgreSQL's 65,535 bind parameters run out).
//
//   node bench/workers/pg-raw.mjs <postgresql:// URL> <msghub's table> <rows per transaction>
// Prints one JSON line: rows/s for the message rows alone, and for message rows + their event-record rows
// (msghub writes both for every message), each the faster of two runs. The copies are dropped before it exits, also on failure; msghub's own
// table is only read.
import pg from 'pg';

const [url, table, batchArg] = process.argv.slice(2);
const batch = Math.max(1, Number(batchArg) || 100);
// Names come from the scenario, but a name goes into SQL text: accept only what the scenario generates.
if (!/^[a-z_][a-z0-9_]{0,40}$/.test(table ?? '')) throw new Error(`pg-raw: bad table name ${JSON.stringify(table)}`);
const EVENTS = 'msghub_events';
const RAW = `${table}_raw`;
const RAW_EVENTS = `${table}_rawev`;
const q = (n) => `"${n}"`;

const db = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
await db.connect();
try {
  const res = await db.query({ text: `SELECT * FROM ${q(table)} ORDER BY "_seq"`, rowMode: 'array' });
  const cols = res.fields.map((f) => f.name);
  const rows = res.rows;
  const ev = await db.query({ text: `SELECT * FROM ${q(EVENTS)} WHERE tbl = $1 ORDER BY seq`, values: [table], rowMode: 'array' });
  const ecols = ev.fields.map((f) => f.name);
  // The copies' own event rows name the copy, so they can never collide with msghub's in the key (tbl, seq).
  const tblAt = ecols.indexOf('tbl');
  const events = ev.rows.map((r) => r.map((v, i) => (i === tblAt ? RAW : v)));

  const fresh = async () => {
    await db.query(`DROP TABLE IF EXISTS ${q(RAW)}, ${q(RAW_EVENTS)}`);
    await db.query(`CREATE TABLE ${q(RAW)} (LIKE ${q(table)} INCLUDING ALL)`);
    await db.query(`CREATE TABLE ${q(RAW_EVENTS)} (LIKE ${q(EVENTS)} INCLUDING ALL)`);
  };
  /** INSERTs of `list[from, to)` into `into`, as few statements as the bind-parameter limit allows. */
  const insert = async (into, names, list, from, to) => {
    const per = Math.max(1, Math.floor(65535 / names.length));
    for (let i = from; i < to; i += per) {
      const chunk = list.slice(i, Math.min(to, i + per));
      let p = 0;
      const tuples = chunk.map((r) => `(${r.map(() => `$${++p}`).join(',')})`).join(',');
      await db.query(`INSERT INTO ${q(into)} (${names.map(q).join(',')}) VALUES ${tuples}`, chunk.flat());
    }
  };
  const insertAll = async (withEvents) => {
    await fresh();
    const t0 = performance.now();
    for (let i = 0; i < rows.length; i += batch) {
      const to = Math.min(rows.length, i + batch);
      await db.query('BEGIN');
      await insert(RAW, cols, rows, i, to);
      if (withEvents) await insert(RAW_EVENTS, ecols, events, i, Math.min(events.length, to));
      await db.query('COMMIT');
    }
    const ms = performance.now() - t0;
    return { rows: rows.length, ms, rowsPerS: (rows.length / ms) * 1000 };
  };

  /** The faster of two runs: the first into a fresh table also pays for PostgreSQL's cold caches. */
  const fastest = async (withEvents) => {
    const a = await insertAll(withEvents);
    const b = await insertAll(withEvents);
    return a.rowsPerS >= b.rowsPerS ? a : b;
  };
  const out = { batch, rows: rows.length, events: events.length };
  if (rows.length) {
    out.rowsOnly = await fastest(false);
    out.withEvents = await fastest(true);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
} finally {
  await db.query(`DROP TABLE IF EXISTS ${q(RAW)}, ${q(RAW_EVENTS)}`).catch(() => {});
  await db.end().catch(() => {});
}
