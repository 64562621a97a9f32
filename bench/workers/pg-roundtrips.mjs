// What each round trip of a PostgreSQL write batch costs (docs/performance.md, "Issue 16: PostgreSQL round trips"):
// the statement sequences msghub's KnexStore sent for a batch of plain POSTs before and after issue 16's change, and
// the steps between them, each timed on one connection, against the raw baselines of bench/workers/pg-raw.mjs.
//
//   node bench/workers/pg-roundtrips.mjs [postgresql:// URL] [batch sizes, e.g. 8,160] [batches]
//
// Tables of its own (`h1rt_<pid>`, its event and sequence copies), dropped at the end, also on failure. Rows are
// shaped like the bench's (a 22-character id, three short text columns, user, timestamp, `_seq`). The variants take
// turns batch by batch (the VM is noisy), `batches` × 3 each; it prints one line per variant and batch size (median
// ms per batch, messages/s) and a last JSON line with the same.
import pg from 'pg';

const [url = 'postgresql://postgres@127.0.0.1:5432/test', sizesArg = '8,160', perArg = '100'] = process.argv.slice(2);
const sizes = sizesArg.split(',').map(Number);
const per = Number(perArg);
const ROUNDS = 3;
const T = `h1rt_${process.pid}`;
const EV = `${T}_ev`;
const SEQ = `${T}_seq`;
const COLS = ['id', 'seq', 'channel', 'body', 'user', 'timestamp'];
const q = (n) => `"${n}"`;

const db = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
await db.connect();
let next = 0;
const rowsOf = (n) =>
  Array.from({ length: n }, () => {
    const i = ++next;
    return [`${process.pid.toString(36)}${i.toString(36)}`.padStart(22, 'A'), String(i), 'general', `message number ${i}`, null, new Date().toISOString()];
  });

/** `INSERT INTO t (cols) VALUES (…),(…)` of `rows`, parameters from `$at` on. */
function insert(into, cols, rows, at = 1) {
  let p = at - 1;
  const tuples = rows.map((r) => `(${r.map(() => `$${++p}`).join(',')})`).join(',');
  return { text: `INSERT INTO ${q(into)} (${cols.map(q).join(',')}) VALUES ${tuples}`, values: rows.flat() };
}
const evRows = (rows, base, ts, tbl = T) => rows.map((r, k) => [tbl, base + 1 + k, 'POST', r[0], '', ts]);
const EVCOLS = ['tbl', 'seq', 'method', 'id', 'data', 'ts'];
const withSeq = (rows, base) => rows.map((r, k) => [...r, base + 1 + k]);
const ROWCOLS = [...COLS, '_seq'];

const variants = {
  /** Before issue 16's change: 8 round trips. */
  'select-for-update + savepoint (before)': async (rows) => {
    const ts = new Date().toISOString();
    await db.query('BEGIN');
    const base = Number((await db.query(`SELECT seq FROM ${q(SEQ)} WHERE tbl = $1 FOR UPDATE`, [T])).rows[0].seq);
    await db.query('SAVEPOINT a');
    await db.query(insert(T, ROWCOLS, withSeq(rows, base)));
    await db.query(insert(EV, EVCOLS, evRows(rows, base, ts)));
    await db.query('RELEASE SAVEPOINT a');
    await db.query(`UPDATE ${q(SEQ)} SET seq = $1 WHERE tbl = $2`, [base + rows.length, T]);
    await db.query('COMMIT');
  },
  /** Idea 1: UPDATE … RETURNING reserves the numbers up front: 7 round trips. */
  'update-returning + savepoint': async (rows) => {
    const ts = new Date().toISOString();
    await db.query('BEGIN');
    const base = Number((await db.query(`UPDATE ${q(SEQ)} SET seq = seq + ${rows.length} WHERE tbl = $1 RETURNING seq - ${rows.length} AS b`, [T])).rows[0].b);
    await db.query('SAVEPOINT a');
    await db.query(insert(T, ROWCOLS, withSeq(rows, base)));
    await db.query(insert(EV, EVCOLS, evRows(rows, base, ts)));
    await db.query('RELEASE SAVEPOINT a');
    await db.query('COMMIT');
  },
  /** Ideas 1 and 2: no savepoint on the first try: 5 round trips. */
  'update-returning, no savepoint': async (rows) => {
    const ts = new Date().toISOString();
    await db.query('BEGIN');
    const base = Number((await db.query(`UPDATE ${q(SEQ)} SET seq = seq + ${rows.length} WHERE tbl = $1 RETURNING seq - ${rows.length} AS b`, [T])).rows[0].b);
    await db.query(insert(T, ROWCOLS, withSeq(rows, base)));
    await db.query(insert(EV, EVCOLS, evRows(rows, base, ts)));
    await db.query('COMMIT');
  },
  /** Ideas 1–3: msghub's statement now (KnexStore.pgRunSql), committed on its own: 1 round trip. */
  'one statement (now)': async (rows) => {
    const n = rows.length;
    const values = [T, new Date().toISOString()];
    let p = 2;
    const tuples = rows.map((r, k) => `(${k + 1},${r.map((v) => (values.push(v), `$${++p}`)).join(',')})`).join(',');
    const names = COLS.map((_, i) => `c${i}`);
    const text =
      `WITH s AS (UPDATE ${q(SEQ)} SET seq = seq + ${n} WHERE tbl = $1 RETURNING seq - ${n} AS base), ` +
      `v (k,${names.join(',')}) AS (VALUES ${tuples}), ` +
      `r AS (INSERT INTO ${q(T)} (${ROWCOLS.map(q).join(',')}) SELECT ${names.map((c) => `v.${c}::pg_catalog.text`).join(',')}, s.base + v.k FROM s, v), ` +
      `e AS (INSERT INTO ${q(EV)} (tbl, seq, method, id, data, ts) SELECT $1, s.base + v.k, 'POST', v.c0, '', $2 FROM s, v) ` +
      `SELECT base FROM s`;
    await db.query(text, values);
  },
  /** bench/workers/pg-raw.mjs's baselines: no sequence row, BEGIN, the INSERT(s), COMMIT. */
  'raw rows (baseline)': async (rows) => {
    await db.query('BEGIN');
    await db.query(insert(T, ROWCOLS, withSeq(rows, next * 10)));
    await db.query('COMMIT');
  },
  'raw rows + event rows (baseline)': async (rows) => {
    await db.query('BEGIN');
    const base = next * 10;
    await db.query(insert(T, ROWCOLS, withSeq(rows, base)));
    await db.query(insert(EV, EVCOLS, evRows(rows, base, new Date().toISOString(), `${T}_raw`)));
    await db.query('COMMIT');
  },
};

const drop = () => db.query(`DROP TABLE IF EXISTS ${q(T)}, ${q(EV)}, ${q(SEQ)}`);
try {
  await drop();
  await db.query(`CREATE TABLE ${q(T)} (id text PRIMARY KEY, seq text, channel text, body text, "user" text, "timestamp" text, _seq bigint)`);
  await db.query(`CREATE INDEX ${q(`${T}__seq_id_idx`)} ON ${q(T)} (_seq, id)`);
  await db.query(`CREATE TABLE ${q(EV)} (tbl varchar(128) NOT NULL, seq bigint NOT NULL, method varchar(8) NOT NULL, id text NOT NULL, data text NOT NULL, ts varchar(32) NOT NULL, PRIMARY KEY (tbl, seq))`);
  await db.query(`CREATE TABLE ${q(SEQ)} (tbl varchar(128) PRIMARY KEY, seq bigint NOT NULL)`);
  await db.query(`INSERT INTO ${q(SEQ)} VALUES ($1, 0)`, [T]);
  // The raw baselines' event rows name another table (`<T>_raw`), so their keys never collide with the others'.
  // Round-robin, one batch of each variant in turn, so a noisy stretch of the VM hits every variant alike.
  const times = {};
  for (const n of sizes) {
    for (const run of Object.values(variants)) for (let w = 0; w < 10; w++) await run(rowsOf(n)); // warm
    for (let w = 0; w < per * ROUNDS; w++) {
      for (const [name, run] of Object.entries(variants)) {
        const rows = rowsOf(n);
        const t0 = performance.now();
        await run(rows);
        ((times[n] ??= {})[name] ??= []).push(performance.now() - t0);
      }
    }
  }
  const out = {};
  for (const n of sizes) {
    for (const name of Object.keys(variants)) {
      const t = times[n][name].sort((a, b) => a - b);
      const m = t[t.length >> 1];
      (out[n] ??= {})[name] = { msPerBatch: +m.toFixed(3), msgsPerS: Math.round((n / m) * 1000) };
      console.log(`batch ${String(n).padStart(4)}  ${name.padEnd(40)} ${m.toFixed(2).padStart(7)} ms  ${String(Math.round((n / m) * 1000)).padStart(7)} msgs/s`);
    }
  }
  process.stdout.write(JSON.stringify(out) + '\n');
} finally {
  // A variant that failed inside BEGIN left the transaction aborted: end it, or the DROP is refused too.
  await db.query('ROLLBACK').catch(() => {});
  await drop().catch(() => {});
  await db.end().catch(() => {});
}
