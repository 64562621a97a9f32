/**
 * Metrics after real traffic: a MessageService on a loopback server, real WebSocket and HTTP clients, and the
 * numbers read back by scraping /metrics over HTTP.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../support/tmp.js';
import { TestClient, type Frame } from '../support/ws-client.js';
import { scrape, serve, type Served } from './support.js';

const config = (table = 'ops_metrics') => ({
  url: {
    chat: {
      pattern: '/chat',
      handler: 'MessageHandler',
      kwargs: { url: 'sqlite:///$YAMLPATH/chat.db', table, columns: { body: 'TEXT' }, limits: { messages_per_second: 0 } },
    },
  },
});

const H = 'handler="chat"';
const open: Served[] = [];
const clients: TestClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function start(...args: Parameters<typeof serve>): Promise<Served> {
  const s = await serve(...args);
  open.push(s);
  return s;
}

async function client(s: Served): Promise<TestClient> {
  const c = await TestClient.connect(`${s.ws}/chat`);
  clients.push(c);
  return c;
}

const events = (frames: Frame[]): number => frames.filter((f) => f._seq !== undefined && f._ack === undefined).length;
const delta = (after: Map<string, number>, before: Map<string, number>, key: string): number => (after.get(key) ?? 0) - (before.get(key) ?? 0);

describe('GET /metrics', () => {
  it('counts connections, frames, deliveries, commits and refusals of real traffic', async () => {
    const s = await start(config(), tempDir());
    const [a, b, c] = [await client(s), await client(s), await client(s)];
    // One acknowledged request each, in turn: after the last ack all three are subscribed and live.
    for (const x of [a, b, c]) expect((await x.request({ body: 'hello' }))._ack).toBeDefined();
    await c.until((f) => events(f) >= 1, 'c hears its own hello');
    await b.until((f) => events(f) >= 2, 'b hears two hellos');
    await a.until((f) => events(f) >= 3, 'a hears three hellos');
    const before = await scrape(`${s.http}/metrics`);

    const N = 20;
    const ackA = a.until((f) => f.filter((x) => x._ack !== undefined).length >= 1 + N, 'acks');
    for (let i = 0; i < N; i++) a.send({ body: `m${i}`, _ref: i });
    await ackA;
    await Promise.all([a, b, c].map((x, i) => x.until((f) => events(f) >= 3 - i + N, `${N} events`)));
    const after = await scrape(`${s.http}/metrics`);

    expect(after.get(`msghub_connections{${H},transport="websocket"}`)).toBe(3);
    expect(after.get(`msghub_subscribers{${H}}`)).toBe(3);
    expect(delta(after, before, `msghub_committed_messages_total{${H}}`)).toBe(N);
    expect(delta(after, before, `msghub_frames_received_total{${H}}`)).toBe(N);
    expect(delta(after, before, `msghub_received_bytes_total{${H}}`)).toBe(
      Array.from({ length: N }, (_, i) => JSON.stringify({ body: `m${i}`, _ref: i }).length).reduce((x, y) => x + y),
    );
    // Every message to all three subscribers, and one acknowledgement each to the sender.
    expect(delta(after, before, `msghub_deliveries_total{${H}}`)).toBe(3 * N);
    expect(delta(after, before, `msghub_frames_sent_total{${H}}`)).toBe(3 * N + N);
    const writes = delta(after, before, `msghub_socket_writes_total{${H}}`);
    expect(writes).toBeGreaterThanOrEqual(3);
    expect(writes).toBeLessThanOrEqual(4 * N);
    expect(delta(after, before, `msghub_sent_bytes_total{${H}}`)).toBeGreaterThan(4 * N * 10);
    const commits = delta(after, before, `msghub_commits_total{${H}}`);
    expect(commits).toBeGreaterThanOrEqual(1);
    expect(commits).toBeLessThanOrEqual(N);
    // One histogram observation per commit, not per message.
    expect(delta(after, before, `msghub_commit_duration_seconds_count{${H}}`)).toBe(commits);
    expect(delta(after, before, `msghub_commit_messages_sum{${H}}`)).toBe(N);
    expect(after.get(`msghub_bus_connected{bus="local"}`)).toBe(1);
    expect(after.get(`msghub_bus_lag_events{${H}}`)).toBe(0);
    expect(after.get(`msghub_replays_in_progress{${H}}`)).toBe(0);
  });

  it('counts refusals by error code, over WebSocket, HTTP and handshakes', async () => {
    const s = await start(config(), tempDir());
    const a = await client(s);
    a.send('not json');
    a.send({ body: 'x', _method: 'PATCH', _ref: 1 });
    await a.until((f) => f.filter((x) => x._error !== undefined).length >= 2, 'two errors');
    const post = await fetch(`${s.http}/chat`, { method: 'POST', body: '[1, {"body": "ok"}]', headers: { 'Content-Type': 'application/json' } });
    expect(post.status).toBe(400);
    const read = await fetch(`${s.http}/chat?nosuchcolumn=1`);
    expect(read.status).toBe(400);
    await expect(TestClient.connect(`${s.ws}/chat?nosuchcolumn=1`).then((c) => (clients.push(c), c.waitClose()))).resolves.toBeUndefined();
    const m = await scrape(`${s.http}/metrics`);
    expect(m.get(`msghub_refused_total{code="MH_ERR_MSG_NOT_JSON",${H}}`)).toBe(1);
    expect(m.get(`msghub_refused_total{code="MH_ERR_MSG_BAD_METHOD",${H}}`)).toBe(1);
    expect(m.get(`msghub_refused_total{code="MH_ERR_MSG_NOT_OBJECT",${H}}`)).toBe(1);
    // The HTTP read and the WebSocket subscription with an unknown filter column.
    expect(m.get(`msghub_refused_total{code="MH_ERR_FILTER_COLUMN",${H}}`)).toBe(2);
    // The good item of the POST was committed.
    expect(m.get(`msghub_committed_messages_total{${H}}`)).toBe(1);
  });

  it('counts SSE streams as http connections and their frames', async () => {
    const s = await start(config(), tempDir());
    const ctl = new AbortController();
    const res = await fetch(`${s.http}/chat`, { headers: { Accept: 'text/event-stream' }, signal: ctl.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const post = await fetch(`${s.http}/chat`, { method: 'POST', body: '{"body": "to the stream"}' });
    expect(post.status).toBe(201);
    let text = '';
    while (!text.includes('to the stream')) text += new TextDecoder().decode((await reader.read()).value);
    const m = await scrape(`${s.http}/metrics`);
    expect(m.get(`msghub_connections{${H},transport="http"}`)).toBe(1);
    expect(m.get(`msghub_connections{${H},transport="websocket"}`)).toBe(0);
    expect(m.get(`msghub_frames_sent_total{${H}}`)).toBe(1);
    expect(m.get(`msghub_sent_bytes_total{${H}}`)).toBe(Buffer.byteLength(text.slice(text.indexOf('id: '))));
    ctl.abort();
  });

  it('each service has its own registry: two in one process do not mix their numbers', async () => {
    const one = await start(config(), tempDir());
    const two = await start(config(), tempDir());
    const a = await client(one);
    for (let i = 0; i < 3; i++) expect((await a.request({ body: `m${i}` }))._ack).toBeDefined();
    expect((await scrape(`${one.http}/metrics`)).get(`msghub_committed_messages_total{${H}}`)).toBe(3);
    expect((await scrape(`${two.http}/metrics`)).get(`msghub_committed_messages_total{${H}}`)).toBe(0);
    // service.metrics() for embedders: the same text.
    expect(await one.service.metrics()).toMatch(/^msghub_committed_messages_total\{handler="chat"\} 3$/m);
  });

  it('behind a token on the public port: 401 without it or with a wrong one', async () => {
    const token = 'a-long-enough-secret-token';
    const s = await start(config(), tempDir(), { metrics: { path: '/metrics', statusPath: '/status', token } });
    const none = await fetch(`${s.http}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await none.json()) as { _error: { code: string } })._error.code).toBe('MH_ERR_AUTH_REQUIRED');
    expect((await fetch(`${s.http}/metrics`, { headers: { Authorization: `Bearer ${token}x` } })).status).toBe(401);
    expect((await fetch(`${s.http}/status`, { headers: { Authorization: 'Bearer nope' } })).status).toBe(401);
    const ok = await fetch(`${s.http}/metrics`, { headers: { Authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const status = await fetch(`${s.http}/status`, { headers: { Authorization: `Bearer ${token}` } });
    expect(((await status.json()) as { handlers: { name: string }[] }).handlers.map((h) => h.name)).toEqual(['chat']);
    // Not ours: the service's routes and 404s are untouched.
    expect((await fetch(`${s.http}/elsewhere`)).status).toBe(404);
  });
});
