// Scenario 3's floor: a raw better-sqlite3 batched insert of the very rows msghub just stored, into a table with
// the very same DDL (copied from msghub's database), with the same pragmas msghub uses (WAL, synchronous=NORMAL).
//
//   node bench/workers/sqlite-raw.mjs <msghub.db> <scratch dir> <rows per transaction>
// Prints one JSON line: rows/s for the message rows alone, and for message rows + their event-record rows
// (msghub writes both for every message), each the faster of one row per INSERT and 32 rows per INSERT.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

const [src, dir, batchArg] = process.argv.slice(2);
const batch = Math.max(1, Number(batchArg) || 100);
const TABLE = 'messages';
const EVENTS = 'msghub_events';

const from = new Database(src, { readonly: true });
const ddl = from
  .prepare(`SELECT sql FROM sqlite_master WHERE tbl_name IN (?, ?) AND sql IS NOT NULL ORDER BY type = 'index', name`)
  .pluck()
  .all(TABLE, EVENTS);
const rows = from.prepare(`SELECT * FROM "${TABLE}" ORDER BY "_seq"`).raw().all();
const cols = from.prepare(`SELECT * FROM "${TABLE}" LIMIT 1`).columns().map((c) => c.name);
const events = from.prepare(`SELECT * FROM "${EVENTS}" ORDER BY seq`).raw().all();
const ecols = from.prepare(`SELECT * FROM "${EVENTS}" LIMIT 1`).columns().map((c) => c.name);
from.close();

function fresh(name) {
  const file = path.join(dir, name);
  for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  for (const s of ddl) db.exec(s);
  return db;
}

const q = (n) => `"${n}"`;
const values = (width, n) => Array.from({ length: n }, () => `(${Array(width).fill('?').join(',')})`).join(',');
// `per` rows per INSERT statement: 1 (a prepared single-row INSERT per row) or RUN (msghub's own multi-row
// statements for runs of POSTs); the rest of a transaction that does not fill a RUN goes row by row.
const RUN = 32;
function insertAll(withEvents, per) {
  const db = fresh(`raw-${withEvents ? 'events' : 'rows'}-${per}.db`);
  const ins = db.prepare(`INSERT INTO ${q(TABLE)} (${cols.map(q).join(',')}) VALUES ${values(cols.length, 1)}`);
  const insE = db.prepare(`INSERT INTO ${q(EVENTS)} (${ecols.map(q).join(',')}) VALUES ${values(ecols.length, 1)}`);
  const insN = db.prepare(`INSERT INTO ${q(TABLE)} (${cols.map(q).join(',')}) VALUES ${values(cols.length, per)}`);
  const insEN = db.prepare(`INSERT INTO ${q(EVENTS)} (${ecols.map(q).join(',')}) VALUES ${values(ecols.length, per)}`);
  const txn = db.transaction((from, to) => {
    let i = from;
    if (per > 1) {
      for (; i + per <= to; i += per) {
        insN.run(rows.slice(i, i + per).flat());
        if (withEvents) insEN.run(events.slice(i, i + per).flat());
      }
    }
    for (; i < to; i++) {
      ins.run(rows[i]);
      if (withEvents && events[i]) insE.run(events[i]);
    }
  });
  const t0 = performance.now();
  for (let i = 0; i < rows.length; i += batch) txn.immediate(i, Math.min(rows.length, i + batch));
  const ms = performance.now() - t0;
  db.close();
  return { rows: rows.length, ms, rowsPerS: (rows.length / ms) * 1000 };
}

/** The faster of one row and RUN rows per statement: the floor is the best a bare insert can do. */
function fastest(withEvents) {
  const perRow = insertAll(withEvents, 1);
  const runs = rows.length === events.length || !withEvents ? insertAll(withEvents, RUN) : null;
  const best = runs && runs.rowsPerS > perRow.rowsPerS ? runs : perRow;
  return { ...best, perRowPerS: perRow.rowsPerS, runsPerS: runs?.rowsPerS ?? null };
}

const out = { batch, rows: rows.length, events: events.length };
if (rows.length) {
  out.rowsOnly = fastest(false);
  out.withEvents = fastest(true);
}
process.stdout.write(JSON.stringify(out) + '\n');
