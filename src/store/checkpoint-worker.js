// @ts-check
/**
 * @module store/checkpoint-worker
 * The thread that runs SQLite WAL checkpoints for one database file (see store/checkpointer.ts). Plain
 * JavaScript, not TypeScript, so that the same file runs from `src/` under the test runner and from `dist/`.
 *
 * Each 'checkpoint' message runs one PASSIVE checkpoint on this thread's own connection: it copies what it can
 * from the WAL into the database file and fsyncs, without waiting for (or blocking) the writer or readers.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
const db = new Database(/** @type {{filename: string}} */ (workerData).filename);
db.pragma('busy_timeout = 1000');

port.on('message', (msg) => {
  if (msg === 'close') {
    db.close();
    port.close();
    return;
  }
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    port.postMessage({ ok: true });
  } catch (err) {
    port.postMessage({ ok: false, error: String(/** @type {Error} */ (err).message) });
  }
});
