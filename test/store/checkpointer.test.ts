/**
 * WAL checkpoints run on a worker thread, not inside the writer's commits (store/checkpointer.ts).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { LogLevel } from '../../src/log.js';
import { parseColumn, withBuiltins } from '../../src/store/columns.js';
import { parseDbUrl } from '../../src/store/db-url.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { WriteRequest } from '../../src/store/store.js';
import type { ColumnDef } from '../../src/types.js';
import { ROOT } from '../support/mounts.js';
import { tempDir } from '../support/tmp.js';

const COLS: Map<string, ColumnDef> = withBuiltins([parseColumn('body', 'TEXT').def!]);
const post = (id: string): WriteRequest => ({ method: 'POST', id, values: { id, user: null, body: `message ${id}` }, userId: null, editAny: false });

function open(file: string, table = 'msgs', logs: [LogLevel, string][] = []): SqliteStore {
  return new SqliteStore(parseDbUrl(`sqlite:///${file}`, '/'), table, COLS, [], (level, message) => void logs.push([level, message]));
}

/** How many rows of `table` the database file alone holds (its WAL left behind). */
function rowsInMainFile(file: string, table = 'msgs'): number {
  const copy = path.join(tempDir(), 'copy.db');
  copyFileSync(file, copy);
  const db = new Database(copy, { readonly: true });
  try {
    return Number(db.prepare(`SELECT count(*) FROM "${table}"`).pluck().get());
  } finally {
    db.close();
  }
}

describe('WAL checkpoints', () => {
  it('copy committed rows into the database file shortly after the commits, off the writer', async () => {
    const file = path.join(tempDir(), 'cp.db');
    const store = open(file);
    await store.init();
    try {
      // Far fewer WAL pages than the writer's own threshold: only the checkpoint thread moves them.
      for (let i = 0; i < 50; i++) await store.write([post(`a${i}`), post(`b${i}`)]);
      await store.checkpointsSettled();
      expect(rowsInMainFile(file)).toBe(100);
      for (let i = 0; i < 20; i++) await store.write([post(`c${i}`)]);
      await store.checkpointsSettled();
      expect(rowsInMainFile(file)).toBe(120);
    } finally {
      await store.close();
    }
  });

  it('share one thread per file; closing one store leaves the other checkpointing', async () => {
    const file = path.join(tempDir(), 'shared.db');
    const a = open(file, 'one');
    const b = open(file, 'two');
    await a.init();
    await b.init();
    try {
      await a.write([post('x')]);
      await a.close();
      await b.write([post('y'), post('z')]);
      await b.checkpointsSettled();
      expect(rowsInMainFile(file, 'two')).toBe(2);
    } finally {
      await b.close();
    }
  });

  it('fall back to the writer, with a warning, if the thread dies', async () => {
    const file = path.join(tempDir(), 'dies.db');
    const logs: [LogLevel, string][] = [];
    const store = open(file, 'msgs', logs);
    await store.init();
    const db = (store as unknown as { db: Database.Database }).db;
    try {
      expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(10_000);
      const worker = (store as unknown as { checkpointer: { worker: import('node:worker_threads').Worker } }).checkpointer.worker;
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      await worker.terminate();
      await exited;
      expect(logs.some(([level, m]) => level === 'warn' && /checkpoints run on the writer again/.test(m))).toBe(true);
      expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
      // Writes go on.
      const [r] = await store.write([post('after')]);
      expect(r!.ok).toBe(true);
    } finally {
      await store.close();
    }
  });
});

describe('Closing a store', () => {
  it('finishes even when nothing else keeps the process alive (the checkpoint thread is waited for)', () => {
    const file = path.join(tempDir(), 'exit.db');
    const script = `
      const { createStore } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/store/sql-store.js')).href)});
      const { parseColumn, withBuiltins } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/store/columns.js')).href)});
      const store = createStore({ client: 'sqlite', filename: ${JSON.stringify(file)} }, 'msgs', withBuiltins([parseColumn('body', 'TEXT').def]));
      await store.init();
      await store.write([{ method: 'POST', id: 'a', values: { id: 'a', user: null, body: 'x' }, userId: null, editAny: false }]);
      await store.close();
      console.log('closed');
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('closed');
    expect(r.status).toBe(0);
  });
});
