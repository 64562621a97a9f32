/**
 * The end-to-end suite of the core MessageHandler, run against every mount: the standalone CLI, a plain
 * http.Server, Express and Fastify. Real SQLite file, real WebSocket clients over loopback.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOUNTS, mount, type Mounted } from '../support/mounts.js';
import { tempDir, writeConfig } from '../support/tmp.js';
import { TestClient, type Frame } from '../support/ws-client.js';

const ID_RE = /^[A-Za-z0-9_-]{22}$/;
const TS_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function config(dir: string): string {
  return writeConfig(
    `
url:
  chat:
    pattern: /chat
    handler: MessageHandler
    kwargs:
      url: sqlite:///chat.db
      table: chat
      columns:
        body: TEXT
        topic: TEXT
        length: INTEGER
      max_message_bytes: 2048
  bounded:
    pattern: /bounded
    handler: MessageHandler
    kwargs:
      url: sqlite:///chat.db
      table: bounded
      columns: {body: TEXT}
      history_limit: 3
  sizes:
    pattern: /sizes
    handler: MessageHandler
    kwargs:
      url: sqlite:///chat.db
      table: sizes
      columns: {body: TEXT}
      max_message_bytes: 262144
  static:
    pattern: /static/(.*)
    handler: FileHandler
    kwargs:
      path: $YAMLPATH/static/
`,
    dir,
  );
}

describe.each(MOUNTS)('MessageHandler over %s', (kind) => {
  let dir: string;
  let server: Mounted;
  let db: Database.Database;
  const clients: TestClient[] = [];

  const connect = async (p: string): Promise<TestClient> => {
    const c = await TestClient.connect(`${server.ws}${p}`);
    clients.push(c);
    return c;
  };
  const rows = (sql: string, ...params: unknown[]): Record<string, unknown>[] => db.prepare(sql).all(...params) as Record<string, unknown>[];

  beforeAll(async () => {
    dir = tempDir();
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(path.join(dir, 'static'));
    writeFileSync(path.join(dir, 'static', 'index.html'), '<p>hello</p>');
    server = await mount(kind, config(dir));
    db = new Database(path.join(dir, 'chat.db'), { readonly: true });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    db?.close();
    await server?.close();
  });

  it('broadcasts a POST to every subscriber, sender included, with server-set id, user and timestamp', async () => {
    const a = await connect('/chat?topic=t1');
    const b = await connect('/chat?topic=t1');
    a.send({ body: 'hello', topic: 't1', id: 'spoofed', user: 'mallory', timestamp: '1999-01-01', extra: 42 });
    const fa = await a.next((f) => f.body === 'hello');
    const fb = await b.next((f) => f.body === 'hello');
    expect(fa).toEqual(fb);
    expect(fa._method).toBe('POST');
    expect(fa.id).toMatch(ID_RE);
    expect(fa.id).not.toBe('spoofed');
    expect(fa.user).toBeNull();
    expect(fa.timestamp).toMatch(TS_RE);
    expect(fa.extra).toBe(42); // not a column: broadcast, not stored
    expect(typeof fa._seq).toBe('number');
    const stored = rows('SELECT * FROM chat WHERE id = ?', fa.id);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ body: 'hello', topic: 't1', user: null, timestamp: fa.timestamp });
    expect(stored[0]).not.toHaveProperty('extra');
  });

  it('sends history on open in commit order without _method, bounded by history_limit', async () => {
    const w = await connect('/bounded');
    for (const body of ['one', 'two', 'three', 'four', 'five']) w.send({ body });
    await w.until((f) => f.filter((x) => x._method === 'POST').length === 5, '5 POSTs');
    const r = await connect('/bounded');
    const history = await r.count(3);
    expect(history.map((f) => f.body)).toEqual(['three', 'four', 'five']);
    for (const f of history) expect(f).not.toHaveProperty('_method');
    expect(history.map((f) => f._seq)).toEqual([...history.map((f) => f._seq)].sort((x, y) => Number(x) - Number(y)));
    // Nothing more arrives after the bound: a live message comes next.
    w.send({ body: 'six' });
    const next = await r.count(4);
    expect(next[3]).toMatchObject({ _method: 'POST', body: 'six' });
  });

  it('replays rows of every frame size and script exactly as they went out live', async () => {
    // Bodies whose frames need a 7-bit, a 16-bit and a 64-bit length, in ASCII and in multi-byte UTF-8: history
    // rows are framed by byte length straight into one write, next to each other.
    const bodies = ['a', 'é'.repeat(40), '🙂'.repeat(30), 'x'.repeat(200), 'ü'.repeat(40_000), 'y'.repeat(70_000), '字'.repeat(30_000), 'z'];
    const w = await connect('/sizes');
    for (const body of bodies) w.send({ body });
    const live = await w.until((f) => f.filter((x) => x._method === 'POST').length === bodies.length, 'every POST');
    const posts = live.filter((x) => x._method === 'POST');
    const r = await connect('/sizes');
    const history = await r.count(bodies.length);
    expect(history.map((f) => f.body)).toEqual(bodies);
    expect(history).toEqual(posts.map(({ _method, ...rest }) => rest));
  });

  it('updates exactly one row on PUT and broadcasts only the changed keys', async () => {
    const a = await connect('/chat?topic=t2');
    a.send({ body: 'draft', topic: 't2' });
    const post = await a.next((f) => f.body === 'draft');
    const before = rows('SELECT * FROM chat WHERE id = ?', post.id)[0]!;
    a.send({ _method: 'put', id: post.id, body: 'final', user: 'mallory', timestamp: '2000-01-01' });
    const put = await a.next((f) => f._method === 'PUT');
    expect(put).toEqual({ _method: 'PUT', id: post.id, body: 'final', _seq: expect.any(Number) });
    const after = rows('SELECT * FROM chat WHERE id = ?', post.id)[0]!;
    expect(after).toEqual({ ...before, body: 'final', _seq: put._seq }); // a row's _seq is its last write's
    expect(rows('SELECT COUNT(*) AS n FROM chat WHERE body = ?', 'final')[0]!.n).toBe(1);
  });

  it('deletes exactly one row on DELETE and broadcasts {_method, id}', async () => {
    const a = await connect('/chat?topic=t3');
    a.send({ body: 'x', topic: 't3' });
    a.send({ body: 'y', topic: 't3' });
    await a.until((f) => f.filter((x) => x._method === 'POST').length === 2, '2 POSTs');
    const x = a.frames.find((f) => f.body === 'x')!;
    a.send({ _method: 'DELETE', id: x.id });
    const del = await a.next((f) => f._method === 'DELETE');
    expect(del).toEqual({ _method: 'DELETE', id: x.id, _seq: expect.any(Number) });
    expect(rows('SELECT body FROM chat WHERE topic = ?', 't3')).toEqual([{ body: 'y' }]);
  });

  it('refuses PUT and DELETE without an id or with an unknown id, changing and broadcasting nothing', async () => {
    const a = await connect('/chat?topic=t4');
    a.send({ body: 'keep', topic: 't4' });
    await a.next((f) => f.body === 'keep');
    const count = Number(rows("SELECT COUNT(*) AS n FROM chat")[0]!.n);
    const cases: [Frame, string][] = [
      [{ _method: 'PUT', body: 'all' }, 'MH_ERR_MSG_MISSING_ID'],
      [{ _method: 'PUT', id: '', body: 'all' }, 'MH_ERR_MSG_MISSING_ID'],
      [{ _method: 'DELETE' }, 'MH_ERR_MSG_MISSING_ID'],
      [{ _method: 'DELETE', id: 'nope' }, 'MH_ERR_MSG_NOT_FOUND'],
      [{ _method: 'PUT', id: 'nope', body: 'z' }, 'MH_ERR_MSG_NOT_FOUND'],
    ];
    for (const [msg, code] of cases) {
      const reply = await a.request(msg);
      expect(reply._error, JSON.stringify(msg)).toMatchObject({ code });
    }
    expect(rows('SELECT COUNT(*) AS n FROM chat')[0]!.n).toBe(count);
    expect(rows('SELECT body FROM chat WHERE topic = ?', 't4')).toEqual([{ body: 'keep' }]);
    expect(a.frames.filter((f) => f._method === 'PUT' || f._method === 'DELETE')).toEqual([]);
  });

  it('answers each bad frame with an _error naming the problem, stores nothing, and keeps the socket open', async () => {
    const a = await connect('/chat?topic=t5');
    const count = Number(rows("SELECT COUNT(*) AS n FROM chat")[0]!.n);
    const bad: [unknown, string][] = [
      ['{not json', 'MH_ERR_MSG_NOT_JSON'],
      ['[1,2]', 'MH_ERR_MSG_NOT_OBJECT'],
      ['"text"', 'MH_ERR_MSG_NOT_OBJECT'],
      ['null', 'MH_ERR_MSG_NOT_OBJECT'],
      [{ _method: 'PATCH', body: 'x' }, 'MH_ERR_MSG_BAD_METHOD'],
      [{ _method: 7, body: 'x' }, 'MH_ERR_MSG_BAD_METHOD'],
      [{ body: 'x', length: 'many' }, 'MH_ERR_MSG_BAD_VALUE'],
      [{ body: { nested: true } }, 'MH_ERR_MSG_BAD_VALUE'],
    ];
    for (const [msg, code] of bad) {
      a.send(msg);
      const err = await a.next((f) => (f._error as Frame | undefined)?.code === code, code);
      expect(String((err._error as Frame).message).length).toBeGreaterThan(5);
    }
    // Still open and working.
    a.send({ body: 'after errors', topic: 't5' });
    await a.next((f) => f.body === 'after errors');
    expect(rows('SELECT COUNT(*) AS n FROM chat')[0]!.n).toBe(count + 1);
  });

  it('closes with 1009 on a frame over max_message_bytes and stores nothing', async () => {
    const a = await connect('/chat');
    const count = Number(rows("SELECT COUNT(*) AS n FROM chat")[0]!.n);
    a.send({ body: 'x'.repeat(4096) });
    await a.waitClose();
    expect(a.closeCode).toBe(1009);
    expect(rows('SELECT COUNT(*) AS n FROM chat')[0]!.n).toBe(count);
  });

  it('delivers live events only to subscribers whose filter matches the row', async () => {
    const help = await connect('/chat?topic=Help');
    const long = await connect('/chat?length>=10');
    const all = await connect('/chat');
    const p = await connect('/chat');
    p.send({ body: 'short help', topic: 'Help', length: 3 });
    p.send({ body: 'long other', topic: 'Other', length: 50 });
    p.send({ body: 'marker', topic: 'end', length: 100 });
    await all.next((f) => f.body === 'marker');
    await long.next((f) => f.body === 'marker');
    const live = (c: TestClient): unknown[] => c.frames.filter((f) => f._method).map((f) => f.body);
    expect(live(all)).toEqual(expect.arrayContaining(['short help', 'long other', 'marker']));
    expect(live(long)).toEqual(['long other', 'marker']);
    // The Help subscriber got its row; wait for it, then check it got nothing else.
    await help.next((f) => f.body === 'short help');
    expect(live(help)).toEqual(['short help']);
  });

  it('refuses an unknown filter column at connect with an _error and close code 4400', async () => {
    const c = await connect('/chat?nosuchcolumn=1');
    await c.waitClose();
    expect(c.closeCode).toBe(4400);
    expect(c.frames[0]!._error).toMatchObject({ code: 'MH_ERR_FILTER_COLUMN' });
  });

  it('acknowledges a message carrying _ref once committed', async () => {
    const a = await connect('/chat?topic=t6');
    const ack = await a.request({ body: 'acked', topic: 't6' });
    expect(ack).toEqual({ _ack: expect.any(Number), _ref: expect.any(String), id: expect.stringMatching(ID_RE), _seq: ack._ack });
    expect(rows('SELECT body FROM chat WHERE id = ?', ack.id)).toEqual([{ body: 'acked' }]);
  });

  it('serves FileHandler paths and leaves the host routes and the host WebSocket alone', async () => {
    const page = await fetch(`${server.http}/static/index.html`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toBe('<p>hello</p>');
    if (kind === 'cli') {
      expect((await fetch(`${server.http}/host`)).status).toBe(404);
      return;
    }
    expect(await (await fetch(`${server.http}/host`)).text()).toBe('host');
    const echo = new WebSocket(`${server.ws}/host-ws`);
    const reply = await new Promise<string>((resolve, reject) => {
      echo.once('open', () => echo.send('ping'));
      echo.once('message', (d) => resolve(d.toString()));
      echo.once('error', reject);
    });
    echo.close();
    expect(reply).toBe('echo:ping');
  });

  it('publishes over HTTP POST and reads history over HTTP GET', async () => {
    const sub = await connect('/chat?topic=http');
    const res = await fetch(`${server.http}/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ body: 'via http', topic: 'http' }) });
    expect(res.status).toBe(201);
    const stored = (await res.json()) as Frame;
    expect(stored).toMatchObject({ _method: 'POST', body: 'via http', id: expect.stringMatching(ID_RE) });
    await sub.next((f) => f.id === stored.id);
    const history = (await (await fetch(`${server.http}/chat?topic=http`)).json()) as Frame[];
    expect(history.map((r) => r.body)).toEqual(['via http']);
  });
});
