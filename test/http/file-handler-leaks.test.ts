/**
 * FileHandler never serves the config's SQLite databases, their side files or the config's own files, in the
 * documented layout (a FileHandler on `$YAMLPATH/` beside `url: sqlite:///$YAMLPATH/chat.sqlite`): by real
 * path, whatever the file is called, however it is spelled and whatever `ignore:` says. Refused as 404.
 */
import { existsSync, mkdirSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headerUser, mount, type Mounted } from '../support/mounts.js';
import { tempDir, writeConfig } from '../support/tmp.js';
import { clientPool } from '../support/ws-client.js';

const CONFIG = `
import: more.yaml
url:
  chat:
    pattern: /$YAMLURL/chat
    handler: MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/chat.sqlite
      table: messages
      columns: {body: TEXT, recipient: TEXT}
      open: >
        args.recipient = [handler.current_user ? handler.current_user.id : '-']
  site:
    pattern: /$YAMLURL/(.*)
    handler: FileHandler
    kwargs:
      path: $YAMLPATH/
  raw:
    pattern: /$YAMLURL/raw/(.*)
    handler: FileHandler
    kwargs:
      path: $YAMLPATH/
      ignore: []
  one:
    pattern: /$YAMLURL/one
    handler: FileHandler
    kwargs:
      path: $YAMLPATH/more.yaml
`;

// Imported, with a database whose name no ignore pattern knows.
const MORE = `
url:
  notes:
    pattern: /$YAMLURL/notes
    handler: MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/data/notes.store
      table: notes
      columns: {body: TEXT}
`;

let dir: string;
let app: Mounted;
const pool = clientPool(() => app.ws);

async function get(urlPath: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${app.http}${urlPath}`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

async function post(urlPath: string, user: string, msg: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${app.http}${urlPath}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-user': user },
    body: JSON.stringify(msg),
    signal: AbortSignal.timeout(5000),
  });
  expect(res.status).toBe(201);
}

beforeAll(async () => {
  dir = realpathSync(tempDir('msghub-leaks-'));
  writeFileSync(path.join(dir, 'more.yaml'), MORE);
  writeFileSync(path.join(dir, 'index.html'), '<h1>chat</h1>');
  writeFileSync(path.join(dir, 'app.js'), 'console.log(1)');
  // SQLite files the config does not name: the default ignore patterns are what hides these.
  writeFileSync(path.join(dir, 'old.sqlite-wal'), 'stray');
  writeFileSync(path.join(dir, 'old.sqlite3-journal'), 'stray');
  writeFileSync(path.join(dir, 'old.db3'), 'stray');
  mkdirSync(path.join(dir, 'data'));
  // Inside the folder, so the containment check lets them through: only the real-path rule stops them.
  symlinkSync(path.join(dir, 'chat.sqlite-wal'), path.join(dir, 'wal-link.txt'));
  symlinkSync(path.join(dir, 'data'), path.join(dir, 'alias'));
  app = await mount('http', writeConfig(CONFIG, dir), { authenticate: headerUser });
  // A few writes, and a subscriber, so the WAL and shared-memory files exist and hold messages.
  const alice = await pool.connect('/chat', 'alice');
  for (let i = 0; i < 3; i++) await post('/chat', 'bob', { body: `secret ${i} for alice`, recipient: 'alice' });
  await alice.until((f) => f.filter((x) => typeof x.body === 'string' && x.body.startsWith('secret')).length === 3, 'three live messages');
  await post('/notes', 'bob', { body: 'a note' });
});

afterAll(async () => {
  await pool.closeAll();
  await app?.close();
});

describe('FileHandler on $YAMLPATH beside the message database', () => {
  it('has the database and its side files on disk, holding the messages', () => {
    for (const f of ['chat.sqlite', 'chat.sqlite-wal', 'chat.sqlite-shm', 'data/notes.store', 'data/notes.store-wal']) {
      expect(existsSync(path.join(dir, f)), f).toBe(true);
    }
    expect(statSync(path.join(dir, 'chat.sqlite-wal')).size).toBeGreaterThan(0);
  });

  it('answers 404 for the database, every side file and every spelling of them', async () => {
    for (const p of ['/chat.sqlite', '/chat.sqlite-wal', '/chat.sqlite-shm', '/CHAT.SQLITE-WAL', '/Chat.Sqlite-Shm', '/chat.sqlite-journal']) {
      expect((await get(p)).status, p).toBe(404);
    }
  });

  it('hides them by real path even with ignore: [] and under names no pattern knows', async () => {
    for (const p of ['/raw/chat.sqlite', '/raw/chat.sqlite-wal', '/raw/chat.sqlite-shm', '/raw/data/notes.store', '/raw/data/notes.store-wal', '/data/notes.store']) {
      expect((await get(p)).status, p).toBe(404);
    }
  });

  it('sees through symlinks inside the folder', async () => {
    for (const p of ['/wal-link.txt', '/raw/wal-link.txt', '/alias/notes.store', '/raw/alias/notes.store-wal']) {
      expect((await get(p)).status, p).toBe(404);
    }
  });

  it('hides a config file named as the path of a single-file FileHandler', async () => {
    expect((await get('/one')).status).toBe(404);
  });

  it('answers 404 for the root config and an imported config, whatever ignore says', async () => {
    for (const p of ['/gramex.yaml', '/more.yaml', '/raw/gramex.yaml', '/raw/more.yaml', '/raw/GRAMEX.YAML']) {
      expect((await get(p)).status, p).toBe(404);
    }
  });

  it('hides stray SQLite files by the default ignore patterns', async () => {
    for (const p of ['/old.sqlite-wal', '/old.sqlite3-journal', '/old.db3']) expect((await get(p)).status, p).toBe(404);
    // Without those patterns they are ordinary files.
    expect(await get('/raw/old.sqlite-wal')).toEqual({ status: 200, body: 'stray' });
  });

  it('still serves ordinary files', async () => {
    expect(await get('/app.js')).toEqual({ status: 200, body: 'console.log(1)' });
    expect(await get('/')).toEqual({ status: 200, body: '<h1>chat</h1>' });
    expect(await get('/raw/index.html')).toEqual({ status: 200, body: '<h1>chat</h1>' });
  });
});
