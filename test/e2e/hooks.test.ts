/**
 * The four expression hooks end to end over WebSocket: message_default, prepare (adding a column, rejecting),
 * modify (changes the broadcast, not the row), open (a pinned filter the query string cannot widen), and app
 * module functions, sync and async.
 */
import { cpSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, headerUser, mount, type Mounted } from '../support/mounts.js';
import { tempDir, writeConfig } from '../support/tmp.js';
import { clientPool } from '../support/ws-client.js';

const CONFIG = `
modules:
  mymodule: ./modules/mymodule.js
url:
  hooks:
    pattern: /hooks
    handler: MessageHandler
    kwargs:
      url: sqlite:///hooks.db
      table: hooks
      columns: {body: TEXT, topic: TEXT, length: INTEGER, to: TEXT, shout: TEXT, session: TEXT}
      message_default:
        post:
          to: "'all@example.org'"
          session: handler.session.id ?? 'none'
        PUT:
          timestamp: "'edited-' + now()"
      prepare: >
        msg.length = msg.length ?? (msg.body ?? '').length;
        msg.body === 'forbidden' ? reject('That word is not allowed') : ''
      modify: >
        msg.body = msg.body === undefined ? undefined : msg.body.toUpperCase()
  inbox:
    pattern: /inbox
    handler: MessageHandler
    kwargs:
      url: sqlite:///hooks.db
      table: inbox
      columns: {body: TEXT, recipient: TEXT}
      open: >
        args.recipient = [handler.current_user ? handler.current_user.id : '-']
  slowopen:
    pattern: /slowopen
    handler: MessageHandler
    kwargs:
      url: sqlite:///hooks.db
      table: slowopen
      columns: {body: TEXT}
      limits: {messages_per_second: 0}
      open: mymodule.pause(300)
  guarded:
    pattern: /guarded
    handler: MessageHandler
    kwargs:
      url: sqlite:///hooks.db
      table: guarded
      columns: {body: TEXT, topic: TEXT, name: TEXT}
      prepare: >
        mymodule.my_prepare(msg, handler);
        msg.name = mymodule.fetchUser(handler.current_user.id).name
`;

describe('expression hooks over WebSocket', () => {
  let server: Mounted;
  let dir: string;
  const { connect, closeAll } = clientPool(() => server.ws);
  const row = (table: string, id: unknown): Record<string, unknown> => {
    const db = new Database(path.join(dir, 'hooks.db'), { readonly: true });
    try {
      return db.prepare(`SELECT * FROM ${table} WHERE id = ?`).get(id) as Record<string, unknown>;
    } finally {
      db.close();
    }
  };

  beforeAll(async () => {
    dir = tempDir();
    mkdirSync(path.join(dir, 'modules'));
    cpSync(path.join(ROOT, 'test/fixtures/modules/mymodule.js'), path.join(dir, 'modules/mymodule.js'));
    server = await mount('http', writeConfig(CONFIG, dir), { authenticate: headerUser });
  });
  afterAll(async () => {
    await closeAll();
    await server?.close();
  });

  it('applies message_default after the built-in POST defaults, and per method', async () => {
    const c = await connect('/hooks');
    const ack = await c.request({ body: 'hi', to: 'spoofed@example.org' });
    const stored = row('hooks', ack.id);
    expect(stored).toMatchObject({ to: 'all@example.org', session: 'none', body: 'hi', length: 2 });
    expect(stored.timestamp).toMatch(/Z$/);
    await c.request({ _method: 'PUT', id: ack.id, body: 'edited' });
    expect(String(row('hooks', ack.id).timestamp)).toMatch(/^edited-\d{4}-/);
  });

  it('lets prepare add a column, and reject() refuse a message with nothing stored or broadcast', async () => {
    const c = await connect('/hooks');
    const ok = await c.request({ body: 'four' });
    expect(row('hooks', ok.id)).toMatchObject({ length: 4 });
    const refused = await c.request({ body: 'forbidden' });
    expect(refused._error).toEqual({ code: 'MH_ERR_MSG_REJECTED', message: 'That word is not allowed' });
    const db = new Database(path.join(dir, 'hooks.db'), { readonly: true });
    expect(db.prepare("SELECT COUNT(*) AS n FROM hooks WHERE body = 'forbidden'").get()).toEqual({ n: 0 });
    db.close();
    expect(c.frames.some((f) => f._method && f.body === 'FORBIDDEN')).toBe(false);
  });

  it('lets modify change what is broadcast but not what is stored', async () => {
    const c = await connect('/hooks');
    const ack = await c.request({ body: 'quiet' });
    const frame = await c.next((f) => f.id === ack.id && f._method === 'POST');
    expect(frame.body).toBe('QUIET');
    expect(row('hooks', ack.id).body).toBe('quiet');
  });

  it('enforces the filter open pins, whatever the query string says', async () => {
    const alice = await connect('/inbox?recipient=bob&recipient=alice', 'alice');
    const sender = await connect('/inbox', 'carol');
    await sender.request({ body: 'for bob', recipient: 'bob' });
    await sender.request({ body: 'for alice', recipient: 'alice' });
    await alice.next((f) => f.body === 'for alice');
    // Reconnect: history holds only alice's message too.
    const again = await connect('/inbox?recipient=bob', 'alice');
    const history = await again.count(1);
    expect(history.map((f) => f.body)).toEqual(['for alice']);
    expect([...alice.frames, ...again.frames].some((f) => f.body === 'for bob')).toBe(false);
  });

  it('calls app module functions, sync (refusing with its message) and async (awaited)', async () => {
    const bob = await connect('/guarded', 'bob');
    const refused = await bob.request({ body: 'let me in', topic: 'help' });
    expect(refused._error).toEqual({ code: 'MH_ERR_MSG_REJECTED', message: 'You cannot write to help' });
    const alice = await connect('/guarded', 'alice');
    const ok = await alice.request({ body: 'I can', topic: 'help' });
    expect(row('guarded', ok.id)).toMatchObject({ body: 'I can', name: 'User alice', user: 'alice' });
  });

  it('processes frames sent while open runs, in order, but closes a client that floods before it is ready', async () => {
    const ok = await connect('/slowopen');
    for (let i = 0; i < 5; i++) ok.send({ body: `early ${i}` });
    await ok.until((f) => f.filter((x) => x._method === 'POST').length === 5, '5 early posts', 5000);
    expect(ok.frames.filter((x) => x._method === 'POST').map((x) => x.body)).toEqual([0, 1, 2, 3, 4].map((i) => `early ${i}`));
    const flood = await connect('/slowopen');
    for (let i = 0; i < 1500; i++) flood.send({ body: `flood ${i}` });
    await flood.waitClose(5000);
    expect(flood.closeCode).toBe(4429);
  });
});
