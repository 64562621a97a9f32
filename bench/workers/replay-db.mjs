// Scenario 4's helpers, run pinned to the server's core while no server runs:
//
//   node bench/workers/replay-db.mjs setup <msghub.db> <rows>
//       fills msghub's (already created) message table with <rows> rows: 50 channels c0..c49 (so `channel=c7` is
//       2% of the rows), about 260 bytes each, `_seq` 1..rows
//   node bench/workers/replay-db.mjs query <msghub.db> <reps> <channel|-> <limit>
//       the query-only rate of the SELECT that returns the same rows a replay sends, oldest first
//       (`SELECT <all columns> FROM messages [WHERE channel = ?] ORDER BY _seq, id LIMIT ?`, `.all()`), median of reps:
//       `ms`/`rowsPerS` with the connection's page cache warm (the same query just ran, nothing committed since),
//       `afterCommit` on a read-only connection right after another connection committed, as every replay reader
//       of a server with live writes runs: SQLite then empties the reader's page cache (pager.c,
//       pagerBeginReadTransaction), so each table page the query needs is read again
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';

const [cmd, file, a, b, c] = process.argv.slice(2);
const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
const cols = db
  .prepare(`PRAGMA table_info("messages")`)
  .all()
  .map((r) => r.name);
const q = (n) => `"${n}"`;

if (cmd === 'setup') {
  const rows = Number(a);
  const body = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis';
  const users = ['alice', 'bob', 'carol', 'dave', 'erin'];
  const t0 = Date.parse('2023-01-01T00:00:00Z');
  const ins = db.prepare(`INSERT INTO messages (${cols.map(q).join(',')}) VALUES (${cols.map((k) => '@' + k).join(',')})`);
  const txn = db.transaction((from, to) => {
    for (let i = from; i < to; i++) {
      const row = {
        seq: String(i).padStart(10, '0'),
        user: users[i % users.length],
        timestamp: new Date(t0 + i * 1000).toISOString(),
        channel: `c${i % 50}`,
        body,
        id: Buffer.from(randomUUID().replace(/-/g, ''), 'hex').toString('base64url'),
        _seq: i,
      };
      const bound = {};
      for (const k of cols) bound[k] = row[k] ?? null;
      ins.run(bound);
    }
  });
  const t = performance.now();
  for (let i = 1; i <= rows; i += 10000) txn(i, Math.min(rows + 1, i + 10000));
  db.pragma('wal_checkpoint(TRUNCATE)');
  process.stdout.write(JSON.stringify({ rows: db.prepare('SELECT count(*) FROM messages').pluck().get(), ms: performance.now() - t }) + '\n');
} else if (cmd === 'query') {
  const reps = Number(a);
  const channel = b === '-' ? null : b;
  const limit = Number(c);
  const sql = `SELECT ${cols.map(q).join(', ')} FROM messages ${channel ? 'WHERE channel = ?' : ''} ORDER BY "_seq", id LIMIT ?`;
  const stmt = db.prepare(sql);
  const params = channel ? [channel, limit] : [limit];
  const plan = db
    .prepare(`EXPLAIN QUERY PLAN ${sql}`)
    .all(...params)
    .map((r) => r.detail)
    .join('; ');
  stmt.all(...params); // warm the page cache
  const times = [];
  let rows = 0;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    rows = stmt.all(...params).length;
    times.push(performance.now() - t);
  }
  times.sort((x, y) => x - y);
  const ms = times[times.length >> 1];
  // The same query on a read-only connection, each time right after a commit by this (writer) connection. The
  // commit rewrites the first row's page with its own value: the WAL changes, the rows do not.
  const reader = new Database(file, { readonly: true });
  const rstmt = reader.prepare(sql);
  const touch = db.prepare('UPDATE messages SET seq = seq WHERE rowid = (SELECT min(rowid) FROM messages)');
  const cold = [];
  for (let i = 0; i < reps; i++) {
    touch.run();
    const t = performance.now();
    rstmt.all(...params);
    cold.push(performance.now() - t);
  }
  reader.close();
  cold.sort((x, y) => x - y);
  const coldMs = cold[cold.length >> 1];
  const afterCommit = { ms: coldMs, rowsPerS: (rows / coldMs) * 1000 };
  process.stdout.write(JSON.stringify({ sql, plan, rows, ms, rowsPerS: (rows / ms) * 1000, afterCommit }) + '\n');
}
db.close();
