/**
 * Issue 18, x0: `handler: X0MessageHandler` speaks x0's micro-msg-server protocol, tested through a harness that
 * sends exactly what x0's browser client sends (test/compat/support/x0-client.ts), against a real service on
 * loopback with a real SQLite file. The compatibility tests of seed-systems.md §1.7 (one `it` each, numbered), then
 * what msghub adds: nothing lost for a session that was away, acknowledgement by the next poll (or DEL), the
 * documented /get and /set routes, `auth:` binding the session to the user, and hostile bodies.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageHandler } from '../../src/core/handler.js';
import { mountHttp } from '../../src/index.js';
import { MessageService, compileService } from '../../src/service.js';
import { ConfigError } from '../../src/errors.js';
import { ROOT, headerUser } from '../support/mounts.js';
import { tempDir, writeConfig } from '../support/tmp.js';
import { X0Browser, xhr, type XhrResult } from './support/x0-client.js';

/** Short polls for the timeout tests; long ones to show that a waiting poll is released by a send, not a timer. */
const FAST = 0.3;
const SLOW = 8;

const CONFIG = `
url:
  x0-fast:
    pattern: /fast/MsgHandler.py(/.*)?
    handler: X0MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/x0.db
      table: x0_fast
      poll_timeout: ${FAST}
      cors: true
      limits: {messages_per_second: 0}
  x0-slow:
    pattern: /python/MsgHandler.py(/.*)?
    handler: X0MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/x0.db
      table: x0_slow
      poll_timeout: ${SLOW}
      cors: [http://x0-app.x0.localnet]
      limits: {messages_per_second: 0}
  x0-auth:
    pattern: /auth/MsgHandler.py(/.*)?
    handler: X0MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/x0.db
      table: x0_auth
      poll_timeout: ${FAST}
      auth: true
      limits: {messages_per_second: 0}
`;

let server: { http: string; close(): Promise<void> };
let fast: string;
let slow: string;
let handlers: Map<string, MessageHandler>;
let sessions = 0;
/** A session id shaped like x0's (`0a34cb25-7fa23e34`), unique per test. */
const session = (): string => `0a34cb${String(++sessions).padStart(2, '0')}-7fa23e34`;

beforeAll(async () => {
  const file = writeConfig(CONFIG, tempDir('msghub-x0-'));
  const service = await MessageService.start(file, { log: () => undefined, authenticate: headerUser });
  handlers = service.handlers;
  const srv = http.createServer((req, res) => {
    if (!service.handleRequest(req, res)) res.writeHead(404).end();
  });
  const mounted = mountHttp(srv, service);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  server = {
    http: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    async close() {
      await service.close();
      await mounted.dispose();
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    },
  };
  fast = `${server.http}/fast/MsgHandler.py`;
  slow = `${server.http}/python/MsgHandler.py`;
});
afterAll(async () => {
  await server?.close();
});

const messagesOf = (r: XhrResult): unknown => (r.data as { messages?: unknown }).messages;

describe('x0 compatibility (seed-systems.md §1.7)', () => {
  it('1. SET A→B, then GET as B: one message, the payload plus session_src; a second GET times out with {"messages": null}', async () => {
    const [a, b] = [new X0Browser(fast, session()), new X0Browser(fast, session())];
    const payload = { 'msg-type': 'net-message', 'txt-id': 'TXT.HELLO', n: 1 };
    expect((await a.sendRaw(b.session, payload)).data).toEqual({ messages: null, status: 'ok' });
    const first = await b.getMsg();
    expect(first.status).toBe(200);
    expect(first.data).toEqual({ messages: [{ ...payload, session_src: a.session }] });
    const second = await b.getMsg();
    expect(second.status).toBe(200);
    expect(second.data).toEqual({ messages: null });
  });

  it('2. two SETs before a GET arrive in one answer, in FIFO order', async () => {
    const [a, b] = [new X0Browser(fast, session()), new X0Browser(fast, session())];
    await a.sendRaw(b.session, { n: 1 });
    await a.sendRaw(b.session, { n: 2 });
    const r = await b.getMsg();
    expect(r.data).toEqual({ messages: [{ n: 1, session_src: a.session }, { n: 2, session_src: a.session }] });
  });

  it('3. a GET with no messages answers {"messages": null} after the poll timeout (configurable, fractions allowed)', async () => {
    const b = new X0Browser(fast, session());
    const started = performance.now();
    const r = await b.getMsg();
    const ms = performance.now() - started;
    expect(r.status).toBe(200);
    expect(r.text).toBe('{"messages":null}');
    expect(ms).toBeGreaterThanOrEqual(FAST * 1000 - 20);
    expect(ms).toBeLessThan(FAST * 1000 + 2000);
  });

  it('4. a GET already waiting is released promptly by a later SET', async () => {
    const [a, b] = [new X0Browser(slow, session()), new X0Browser(slow, session())];
    const waiting = b.getMsg();
    // Let the poll reach the hub before the send (its answer must come from the live event, not the replay).
    await new Promise((r) => setTimeout(r, 200));
    const sentAt = performance.now();
    await a.sendRaw(b.session, { live: true });
    const r = await waiting;
    const ms = performance.now() - sentAt;
    expect(r.data).toEqual({ messages: [{ live: true, session_src: a.session }] });
    expect(ms).toBeLessThan(1000); // the poll waits up to 8 s
  });

  it('5. the SET answer is {"messages": null, "status": "ok"} with HTTP 200 and JSON', async () => {
    const a = new X0Browser(fast, session());
    const r = await a.sendRaw(session(), { x: 1 });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json; charset=UTF-8');
    expect(r.text).toBe('{"messages":null,"status":"ok"}');
  });

  it('6. the example form body is normalised to the same stored payload as the raw body (net-message, set-data, FormlistExchangeData)', async () => {
    const [a, b] = [new X0Browser(fast, session()), new X0Browser(fast, session())];
    const form = { Form1: true, Form2: 'hello', Form3: 'Value2', Form4: 'multi\nline' };
    const sent = await a.sendForm(b.session, form);
    expect(sent.data).toEqual({ messages: null, status: 'ok' });
    await a.sendRaw(b.session, { 'msg-type': 'net-message', 'method-id': 'set-data', 'dst-object': 'FormlistExchangeData', payload: form });
    const [fromForm, fromRaw] = messagesOf(await b.getMsg()) as unknown[];
    expect(fromForm).toEqual({ 'msg-type': 'net-message', 'method-id': 'set-data', 'dst-object': 'FormlistExchangeData', payload: form, session_src: a.session });
    expect(fromRaw).toEqual(fromForm);
  });

  it('7. errors are HTTP 200 with error: true, exception and exception_id (strings)', async () => {
    const a = new X0Browser(fast, session());
    const bodies: XhrResult[] = [
      await a.request({ type: 'SET', session_src: a.session, payload: { x: 1 } }), // no session_dst
      await a.request({ type: 'SET', session_src: a.session, session_dst: 'b', payload: 'not an object' }),
      await a.request({ type: 'BOGUS' }),
      await xhr(`${fast}?a__=1`, 'POST', '{not json', { 'Content-Type': 'application/json; charset=UTF-8' }),
      await xhr(`${fast}?a__=1`, 'POST', '[1,2]', { 'Content-Type': 'application/json; charset=UTF-8' }),
      await xhr(`${fast}?a__=1`, 'POST', `{"a":${'['.repeat(100)}${']'.repeat(100)}}`, { 'Content-Type': 'application/json; charset=UTF-8' }),
      await xhr(`${fast}?a__=1`, 'POST', JSON.stringify({ type: 'SET', session_src: 'a', session_dst: 'b', payload: { big: 'x'.repeat(70_000) } }), {
        'Content-Type': 'application/json; charset=UTF-8',
      }),
      await xhr(`${fast}/set?a__=1`, 'GET', null),
    ];
    for (const r of bodies) {
      expect(r.status).toBe(200);
      const d = r.data as Record<string, unknown>;
      expect(d.error).toBe(true);
      expect(typeof d.exception).toBe('string');
      expect(typeof d.exception_id).toBe('string');
      expect(d.exception_id).toMatch(/^MH_ERR_/);
    }
    // A refused poll answers the same way, after a pause (x0's client polls again at once).
    const started = performance.now();
    const bad = await xhr(`${fast}?a__=1`, 'POST', JSON.stringify({ type: 'GET', session_src: '' }), { 'Content-Type': 'application/json; charset=UTF-8' });
    expect(bad.status).toBe(200);
    expect((bad.data as Record<string, unknown>).exception_id).toBe('MH_ERR_HTTP_BODY');
    expect(performance.now() - started).toBeGreaterThanOrEqual(FAST * 1000 - 20);
  });

  it('8. CORS headers on POST and OPTIONS; a non-POST to the single endpoint gets 200 and an empty body', async () => {
    const a = new X0Browser(fast, session(), { origin: 'http://x0-app.x0.localnet' });
    const pre = await a.preflight();
    expect(pre.status).toBe(200);
    expect(pre.text).toBe('');
    expect(pre.headers['access-control-allow-origin']).toBe('*');
    expect(pre.headers['access-control-allow-headers']).toBe('cache-control,content-type,upgrade-insecure-requests');
    expect(pre.headers['access-control-allow-methods']).toContain('POST');
    const post = await a.sendRaw(session(), { x: 1 });
    expect(post.headers['access-control-allow-origin']).toBe('*');
    expect(post.headers['access-control-allow-headers']).toBe('*');
    for (const method of ['GET', 'OPTIONS'] as const) {
      const r = await xhr(`${fast}?a__=0123456789`, method, null);
      expect(r.status).toBe(200);
      expect(r.text).toBe('');
      expect(r.headers['content-type']).toBe('application/json; charset=UTF-8');
      expect(r.headers['access-control-allow-origin']).toBe('*');
    }
    // A list of origins: the listed one is echoed, another gets no CORS headers (and is refused by the origin check).
    const listed = new X0Browser(slow, session(), { origin: 'http://x0-app.x0.localnet' });
    expect((await listed.preflight()).headers['access-control-allow-origin']).toBe('http://x0-app.x0.localnet');
    const sent = await listed.sendRaw(session(), { x: 1 });
    expect(sent.headers['access-control-allow-origin']).toBe('http://x0-app.x0.localnet');
    expect(sent.headers.vary).toBe('Origin');
    const other = new X0Browser(slow, session(), { origin: 'http://evil.example' });
    expect((await other.preflight()).headers['access-control-allow-origin']).toBeUndefined();
    const refused = await other.sendRaw(session(), { x: 1 });
    expect(refused.headers['access-control-allow-origin']).toBeUndefined();
    expect((refused.data as Record<string, unknown>).exception_id).toBe('MH_ERR_AUTH_FORBIDDEN');
  });

  it("9. a GET for one session never returns another session's messages", async () => {
    const [a, b, c] = [new X0Browser(fast, session()), new X0Browser(fast, session()), new X0Browser(fast, session())];
    for (let i = 0; i < 6; i++) await a.sendRaw(i % 2 ? b.session : c.session, { i });
    expect(messagesOf(await b.getMsg())).toEqual([1, 3, 5].map((i) => ({ i, session_src: a.session })));
    expect(messagesOf(await c.getMsg())).toEqual([0, 2, 4].map((i) => ({ i, session_src: a.session })));
    expect(messagesOf(await new X0Browser(fast, session()).getMsg())).toBeNull();
  });
});

describe('what msghub adds to x0', () => {
  it("x0's own poll loop gets live messages as they are sent, and form sends, with nothing twice", async () => {
    const [a, b] = [new X0Browser(slow, session()), new X0Browser(slow, session())];
    b.start();
    try {
      await new Promise((r) => setTimeout(r, 100));
      for (let i = 0; i < 5; i++) await a.sendRaw(b.session, { i });
      await a.sendForm(b.session, { Form2: 'last' });
      await b.until((m) => m.length >= 6, 'six messages');
      await new Promise((r) => setTimeout(r, 300));
      expect(b.received.slice(0, 5)).toEqual([0, 1, 2, 3, 4].map((i) => ({ i, session_src: a.session })));
      expect(b.received[5]).toMatchObject({ 'method-id': 'set-data', payload: { Form2: 'last' } });
      expect(b.received).toHaveLength(6);
      expect(b.stopped).toBeNull();
    } finally {
      b.stop();
    }
  });

  it('a session that was offline for the whole send gets everything when it comes back, in order, once', async () => {
    const [a, b] = [new X0Browser(fast, session()), new X0Browser(fast, session())];
    for (let i = 0; i < 25; i++) await a.sendRaw(b.session, { i });
    b.start();
    try {
      await b.until((m) => m.length >= 25, '25 messages');
      // Several more polls (each acknowledges the one before) bring nothing again.
      const polls = b.answers.length;
      await new Promise<void>((resolve, reject) => {
        const t = setInterval(() => {
          if (b.answers.length >= polls + 3) {
            clearInterval(t);
            resolve();
          } else if (b.stopped) reject(new Error(b.stopped));
        }, 20);
      });
      expect(b.received).toEqual(Array.from({ length: 25 }, (_, i) => ({ i, session_src: a.session })));
    } finally {
      b.stop();
    }
  });

  it('a poll the browser abandons (tab closed mid-poll) leaves the session intact: the next poll gets what came after', async () => {
    const [a, b] = [new X0Browser(slow, session()), new X0Browser(slow, session())];
    const ctl = new AbortController();
    const lost = b.getMsg(ctl.signal).catch((err: Error) => err);
    await new Promise((r) => setTimeout(r, 200));
    ctl.abort(); // the tab is closed with the poll in flight
    await lost;
    await new Promise((r) => setTimeout(r, 50));
    await a.sendRaw(b.session, { after: 'abort' });
    expect(messagesOf(await b.getMsg())).toEqual([{ after: 'abort', session_src: a.session }]);
  });

  it('what a poll returned is acknowledged by the next poll, or at once by DEL (the original server’s delete)', async () => {
    const [a, b] = [new X0Browser(fast, session()), new X0Browser(fast, session())];
    const h = handlers.get('x0-fast')!;
    await a.sendRaw(b.session, { n: 1 });
    const r = await b.getMsg();
    expect(messagesOf(r)).toHaveLength(1);
    // Not acknowledged yet: the cursor (shared by every node) has not moved.
    const before = await h.store.getCursor('x0-fast', b.session);
    expect(before).toBeNull();
    expect((await b.request({ type: 'DEL', session_src: b.session })).data).toEqual({ messages: null, status: 'ok' });
    const after = await h.store.getCursor('x0-fast', b.session);
    expect(after).toBeGreaterThan(0);
    expect(messagesOf(await b.getMsg())).toBeNull();
  });

  it('the documented routes: POST <pattern>/set with {session_dst, payload}, GET and POST <pattern>/get', async () => {
    const [a, b] = [new X0Browser(fast, session()), new X0Browser(fast, session())];
    expect((await a.sendDocumented(b.session, { doc: 1 })).data).toEqual({ messages: null, status: 'ok' });
    const viaGet = await xhr(`${fast}/get?session_src=${encodeURIComponent(b.session)}&type=GET`, 'GET', null);
    expect(viaGet.data).toEqual({ messages: [{ doc: 1, session_src: a.session }] });
    await a.sendDocumented(b.session, { doc: 2 });
    const viaPost = await b.request({ session_src: b.session }, `${fast}/get`);
    expect(viaPost.data).toEqual({ messages: [{ doc: 2, session_src: a.session }] });
  });

  it('with auth:, the session is the logged-in user: a sender cannot pose as another, nor read another’s messages', async () => {
    const url = `${server.http}/auth/MsgHandler.py`;
    const anon = new X0Browser(url, 'whoever');
    expect((await anon.sendRaw('bob', { x: 1 })).data).toMatchObject({ error: true, exception_id: 'MH_ERR_AUTH_REQUIRED' });
    const alice = new X0Browser(url, 'bob', { extraHeaders: { 'x-user': 'alice' } }); // claims bob's session
    expect((await alice.sendRaw('bob', { hi: 1 })).data).toEqual({ messages: null, status: 'ok' });
    const mallory = new X0Browser(url, 'bob', { extraHeaders: { 'x-user': 'mallory' } });
    expect(messagesOf(await mallory.getMsg())).toBeNull();
    const bob = new X0Browser(url, 'anything', { extraHeaders: { 'x-user': 'bob' } });
    expect(messagesOf(await bob.getMsg())).toEqual([{ hi: 1, session_src: 'alice' }]);
  });

  it('hostile bodies never break the service: lone surrogates, __proto__, control characters, reserved keys', async () => {
    const a = new X0Browser(fast, session());
    const texts = [
      '{"type":"SET","session_src":"a","session_dst":"\\ud800","payload":{}}',
      '{"type":"SET","session_src":"a","session_dst":"b","payload":{"__proto__":{"x":1}}}',
      '{"type":"GET","session_src":"a\\u0000b"}',
      '{"type":"SET","session_src":"a","session_dst":"b","payload":{"t":"\\udfff"}}',
      `{"type":"GET","session_src":"${'s'.repeat(300)}"}`,
      '{"RequestData":{"FormlistSelectDstUser":{"DstUserSession":7},"FormlistExchangeData":{}},"SessionData":{"Value":"a"}}',
      'null',
    ];
    for (const t of texts) {
      const r = await xhr(`${fast}?a__=1`, 'POST', t, { 'Content-Type': 'application/json; charset=UTF-8' });
      expect(r.status).toBe(200);
      expect((r.data as Record<string, unknown>).error).toBe(true);
    }
    // Still serving.
    expect((await a.sendRaw(session(), { ok: true })).data).toEqual({ messages: null, status: 'ok' });
  });
});

describe('X0MessageHandler config', () => {
  it("compiles the x0 config of docs/compat.md as written", async () => {
    const text = readFileSync(path.join(ROOT, 'docs/compat.md'), 'utf8');
    const x0 = text.slice(text.indexOf('## x0 micro-msg-server'));
    const yaml = /```yaml\n([\s\S]*?)```/.exec(x0)![1]!;
    const compiled = await compileService(writeConfig(yaml, tempDir('msghub-x0-doc-')), { log: () => undefined });
    const [h] = compiled.messageHandlers;
    expect(h!.entry.handler).toBe('X0MessageHandler');
    expect([...h!.config.columns.keys()]).toEqual(expect.arrayContaining(['session_src', 'session_dst', 'payload']));
    expect(h!.config.durable).toBe(true);
    expect(h!.options).toEqual({ pollTimeoutMs: 10_000, cors: '*' });
  });

  it('reports unknown keys, a bad poll_timeout and a bad cors with their YAML paths', async () => {
    const dir = tempDir('msghub-x0-config-');
    const file = writeConfig(
      `
url:
  x0:
    pattern: /x0(/.*)?
    handler: X0MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/x0.db
      table: x0
      poll_timeout: -1
      cors: [1]
      columns: {a: TEXT}
`,
      dir,
    );
    const err = await compileService(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const paths = (err as ConfigError).issues.map((i) => i.path).sort();
    expect(paths).toEqual(['url.x0.kwargs.columns', 'url.x0.kwargs.cors', 'url.x0.kwargs.poll_timeout']);
  });
});
