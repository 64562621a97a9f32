/**
 * Issue 18, Texto v1 (`handler: TextoHandler`): the compatibility tests of seed-systems.md §2.7 (1–5 and 7 here;
 * 6, across nodes, in texto-cluster.test.ts), through test/compat/support/texto-client.ts, which sends exactly
 * what Texto's `public/texto.js` sends (its ack of every receive included); and msghub's improvements: a client
 * offline for the whole send gets everything when it comes back presenting its id, in order, once; an acked
 * receive is never sent again, an unacked one is, with the same id; with a user, an id is bound to that user.
 * One http.Server with a MessageService on a SQLite file per test group, on loopback, port 0.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { ConfigError } from '../../src/errors.js';
import { compileService } from '../../src/service.js';
import { ROOT, headerUser, mount, type Mounted } from '../support/mounts.js';
import { tempDir, writeConfig } from '../support/tmp.js';
import { TextoClient, TextoMessage, type Frame } from './support/texto-client.js';

const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ESYNTAX = { code: 'ESYNTAX', description: 'Unable to process the message due to a syntax error.' };
const ECID = { code: 'ECID', description: "The submitted client ID doesn't match the current session." };
const EKIND = { code: 'EKIND', description: 'Invalid message kind received.' };

function textoConfig(extra = ''): string {
  return writeConfig(
    `
url:
  texto:
    pattern: /v1/texto
    handler: TextoHandler
    kwargs:
      url: sqlite:///$YAMLPATH/texto.db
      table: texto
      limits: {messages_per_second: 0}
${extra}`,
    tempDir('msghub-texto-'),
  );
}

const hostOf = (m: Mounted): string => m.http.replace(/^http:\/\//, '');

/** A client that ran texto.js's connect(): it has its session id from the greeting. */
async function connected(m: Mounted, options: ConstructorParameters<typeof TextoClient>[1] = {}): Promise<TextoClient> {
  return new TextoClient(hostOf(m), options).connect();
}

const receives = (c: TextoClient): Frame[] => c.frames.filter((f) => f.kind === 'receive');
const errors = (c: TextoClient): Frame[] => c.frames.filter((f) => f.kind === 'error');

describe('Texto v1 compatibility (seed-systems.md §2.7)', () => {
  let m: Mounted;
  const clients: TextoClient[] = [];
  const track = <T extends TextoClient>(c: T): T => (clients.push(c), c);
  beforeAll(async () => {
    m = await mount('http', textoConfig());
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await m.close();
  });

  it('1. greets with a connection frame whose client_id is data.client_id, a UUIDv4; ?nogreet=1 suppresses it', async () => {
    const c = track(await connected(m));
    const greeting = c.frames[0]!;
    expect(Object.keys(greeting)).toEqual(['client_id', 'id', 'kind', 'data']);
    expect(greeting.kind).toBe('connection');
    expect(greeting.client_id).toMatch(UUID4);
    expect(greeting.data).toEqual({ client_id: greeting.client_id });
    expect(greeting.id).toMatch(UUID4);
    expect(greeting.id).not.toBe(greeting.client_id);
    expect(c.id).toBe(greeting.client_id);

    // Suppressed: the first frame this client gets is the answer to its own registration.
    const quiet = track(await TextoClient.raw(hostOf(m), { query: 'nogreet=1' }));
    const reg = new TextoMessage(null, 'registration', null);
    quiet.sendRaw(reg);
    const first = await quiet.next(() => true, 'the registration answer');
    expect(first).toMatchObject({ id: reg.id, kind: 'connection' });
    expect(first.client_id).toMatch(UUID4);
    expect(quiet.frames).toHaveLength(1);

    // Texto tests the value (Go's Query().Get): a bare ?nogreet still greets.
    const bare = track(await TextoClient.raw(hostOf(m), { query: 'nogreet' }));
    expect((await bare.next(() => true, 'the greeting')).kind).toBe('connection');
  });

  it('2. a registration is answered with connection, same id, the current client id', async () => {
    const c = track(await connected(m));
    const data = await c._send(new TextoMessage(c.id, 'registration', null));
    expect(data).toEqual({ client_id: c.id });
    const reg = c.sent.map((t) => JSON.parse(t)).find((f) => f.kind === 'registration');
    const answer = c.frames.find((f) => f.kind === 'connection' && f.id === reg.id)!;
    expect(answer).toEqual({ client_id: c.id, id: reg.id, kind: 'connection', data: { client_id: c.id } });
    // Texto does not check a registration's client_id: nil, or an id never issued, get the current id too.
    for (const claimed of [null, '0b7e6b8e-9a4e-4b8e-8f3e-2f2f2f2f2f2f']) {
      const r = new TextoMessage(claimed, 'registration', { anything: true });
      c.sendRaw(r);
      expect(await c.next((f) => f.id === r.id, 'registration answer')).toEqual({ client_id: c.id, id: r.id, kind: 'connection', data: { client_id: c.id } });
    }
  });

  it('3. A sends to B: A gets ack with its id, B gets receive (client_id B, sender_id A, same text, new id) and acks it', async () => {
    const a = track(await connected(m));
    const b = track(await connected(m));
    const got = new Promise<unknown>((resolve) => (b.onreceive = resolve));
    expect(await a.sendMessage(b.id, 'hello B')).toBeNull();
    const send = JSON.parse(a.sent.at(-1)!);
    expect(a.frames.find((f) => f.id === send.id)).toEqual({ client_id: a.id, id: send.id, kind: 'ack', data: null });
    expect(await got).toEqual({ sender_id: a.id, text: 'hello B' });
    const r = receives(b)[0]!;
    expect(Object.keys(r)).toEqual(['client_id', 'id', 'kind', 'data']);
    expect(r).toMatchObject({ client_id: b.id, kind: 'receive', data: { sender_id: a.id, text: 'hello B' } });
    expect(r.id).toMatch(UUID4);
    expect(r.id).not.toBe(send.id);
    // texto.js acked it with the receive's id, and the server answers nothing to an ack.
    expect(JSON.parse(b.sent.at(-1)!)).toEqual({ id: r.id, client_id: b.id, kind: 'ack', data: null });
    // Sending to oneself is allowed.
    await a.sendMessage(a.id, 'to me');
    await a.until(() => receives(a).some((f) => f.data.text === 'to me'), 'the receive to self');
    expect(errors(a).concat(errors(b))).toEqual([]);
  });

  it('4. ECID for a foreign client_id (request id); ESYNTAX for garbage, bad UUIDs, unknown kinds (new id); EKIND for a server kind', async () => {
    const a = track(await connected(m));
    const b = track(await connected(m));
    // texto.js rejects the promise with the description.
    const wrong = new TextoMessage(b.id, 'send', { receiver_id: b.id, text: 'spoofed' });
    await expect(a._send(wrong)).rejects.toThrow(ECID.description);
    expect(a.frames.find((f) => f.id === wrong.id)).toEqual({ client_id: a.id, id: wrong.id, kind: 'error', data: ECID });

    const syntax: (string | object)[] = [
      'not json',
      '[1,2]',
      'null',
      { id: 'not-a-uuid', client_id: a.id, kind: 'send', data: { receiver_id: b.id, text: 'x' } },
      { id: TextoMessage._uuid4(), client_id: 'zzz', kind: 'registration', data: null },
      { id: TextoMessage._uuid4(), client_id: a.id, kind: 'bleepblopimabot', data: {} },
      { id: TextoMessage._uuid4(), client_id: a.id, kind: 'send', data: null },
      { id: TextoMessage._uuid4(), client_id: a.id, kind: 'send' },
      { id: TextoMessage._uuid4(), client_id: a.id, kind: 'send', data: { receiver_id: 'nope', text: 'x' } },
      { id: TextoMessage._uuid4(), client_id: a.id, kind: 'send', data: { receiver_id: b.id, text: 5 } },
      { id: TextoMessage._uuid4(), client_id: a.id, kind: 7, data: null },
    ];
    for (const frame of syntax) {
      const before = a.frames.length;
      a.sendRaw(frame);
      await a.until(() => a.frames.length > before, `an answer to ${JSON.stringify(frame)}`);
      const e = a.frames[before]!;
      expect(e, JSON.stringify(frame)).toMatchObject({ client_id: a.id, kind: 'error', data: ESYNTAX });
      expect(e.id).toMatch(UUID4);
      if (typeof frame === 'object' && frame && 'id' in frame) expect(e.id).not.toBe((frame as { id: unknown }).id);
    }
    for (const kind of ['receive', 'connection']) {
      const f = new TextoMessage(a.id, kind, kind === 'receive' ? { sender_id: b.id, text: 'forged' } : { client_id: a.id });
      a.sendRaw(f);
      expect(await a.next((x) => x.id === f.id, `the ${kind} answer`)).toEqual({ client_id: a.id, id: f.id, kind: 'error', data: EKIND });
    }
    // Nothing of it reached B; Go-style reading still accepts what Texto accepts (keys in any case, {…} UUIDs).
    const odd = { ID: TextoMessage._uuid4(), Client_Id: `{${a.id.toUpperCase()}}`, KIND: 'send', Data: { Receiver_ID: `urn:uuid:${b.id}`, text: 'odd but valid' } };
    a.sendRaw(odd);
    expect(await a.next((x) => x.id === odd.ID, 'the ack')).toEqual({ client_id: a.id, id: odd.ID, kind: 'ack', data: null });
    await b.until(() => receives(b).length === 1, 'the one receive');
    expect(receives(b).map((f) => f.data.text)).toEqual(['odd but valid']);
    // An incoming error or ack gets no answer (the next frame answered is the registration after them).
    const reg = new TextoMessage(a.id, 'registration', null);
    const n = a.frames.length;
    a.sendRaw(new TextoMessage(a.id, 'error', { code: 'EX', description: 'client error' }));
    a.sendRaw(new TextoMessage(a.id, 'ack', null));
    a.sendRaw(reg);
    await a.next((x) => x.id === reg.id, 'the registration answer');
    expect(a.frames.length).toBe(n + 1);
  });

  it('5. a send to an unknown UUID is acked and delivered nowhere', async () => {
    const a = track(await connected(m));
    const b = track(await connected(m));
    const unknown = TextoMessage._uuid4();
    expect(await a.sendMessage(unknown, 'into the void')).toBeNull();
    expect(await a.sendMessage(b.id, 'marker')).toBeNull();
    await b.until(() => receives(b).length === 1, 'the marker');
    expect(receives(b).map((f) => f.data.text)).toEqual(['marker']);
    expect(receives(a)).toEqual([]);
  });

  it('a plain HTTP request to the socket path gets gorilla/websocket\'s 400', async () => {
    const res = await fetch(`${m.http}/v1/texto`);
    expect(res.status).toBe(400);
    expect(res.headers.get('sec-websocket-version')).toBe('13');
    expect(await res.text()).toBe('Bad Request\n');
  });
});

describe('7. the idle timeout', () => {
  it('drops the TCP connection (no close frame) after idle_timeout without a frame either way; every frame restarts it', async () => {
    const m = await mount('http', textoConfig('      idle_timeout: 0.4\n'));
    try {
      const opened = Date.now();
      const quiet = await TextoClient.raw(hostOf(m));
      const busy = await new TextoClient(hostOf(m)).connect();
      // `listener` never sends a frame (no acks either): only frames to it keep it alive.
      const listener = await new TextoClient(hostOf(m), { autoAck: false }).connect();
      // `busy` sends to `listener` every 150 ms for over 900 ms: more than twice the timeout, and both stay.
      let lastActivity = 0;
      for (let i = 0; i < 7; i++) {
        if (i > 0) await new Promise((res) => setTimeout(res, 150));
        await busy.sendMessage(listener.id, `keep-alive ${i}`);
        await listener.until(() => listener.received.length === i + 1, 'the receive');
        lastActivity = Date.now();
      }
      await quiet.closed;
      expect(quiet.closeFrame).toBe(false);
      expect(quiet.closedAt - opened).toBeGreaterThanOrEqual(400);
      expect([busy.closeCode, listener.closeCode]).toEqual([null, null]);
      expect(lastActivity - opened).toBeGreaterThan(2 * 400);
      await Promise.all([busy.closed, listener.closed]);
      expect([busy.closeFrame, listener.closeFrame]).toEqual([false, false]);
      expect(busy.closedAt - lastActivity).toBeGreaterThanOrEqual(390);
      expect(listener.closedAt - lastActivity).toBeGreaterThanOrEqual(390);
    } finally {
      await m.close();
    }
  }, 15_000);

  it('defaults to 5 minutes and refuses a bad value with its YAML path', async () => {
    const { textoAdapter, DEFAULT_IDLE_TIMEOUT_S } = await import('../../src/compat/texto/adapter.js');
    expect(DEFAULT_IDLE_TIMEOUT_S).toBe(300);
    const compiled = await compileService(textoConfig());
    expect((compiled.messageHandlers[0]!.options as { idleTimeoutMs: number }).idleTimeoutMs).toBe(300_000);
    expect(textoAdapter.handler).toBe('TextoHandler');
    const bad = await compileService(textoConfig('      idle_timeout: -1\n      columns: {x: TEXT}\n')).catch((e) => e);
    expect(bad).toBeInstanceOf(ConfigError);
    const paths = (bad as ConfigError).issues.map((i) => i.path);
    expect(paths).toContain('url.texto.kwargs.idle_timeout');
    expect(paths).toContain('url.texto.kwargs.columns');
  });
});

describe('msghub improvements: stored messages, re-presented ids, acknowledgements', () => {
  let m: Mounted;
  const clients: TextoClient[] = [];
  const track = <T extends TextoClient>(c: T): T => (clients.push(c), c);
  beforeAll(async () => {
    m = await mount('http', textoConfig());
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await m.close();
  });

  it('a client offline for the whole send gets everything when it comes back presenting its id: in order, once', async () => {
    const b0 = await connected(m);
    const bId = b0.id;
    await b0.close();
    const a = track(await connected(m));
    const N = 25;
    for (let i = 0; i < N; i++) await a.sendMessage(bId, `m${i}`);

    const b1 = track(await connected(m));
    expect(b1.id).not.toBe(bId);
    expect(await b1.register(bId)).toEqual({ client_id: bId });
    await b1.until(() => b1.received.length >= N, `${N} receives`);
    expect(b1.received.map((f) => f.data.text)).toEqual(Array.from({ length: N }, (_, i) => `m${i}`));
    expect(b1.received.every((f) => f.client_id === bId && f.data.sender_id === a.id)).toBe(true);
    // The connection answer came before the first receive, and the client now sends as bId.
    const answer = b1.frames.findIndex((f) => f.kind === 'connection' && f.client_id === bId);
    expect(answer).toBeLessThan(b1.frames.findIndex((f) => f.kind === 'receive'));
    await b1.sendMessage(a.id, 'back');
    await a.until(() => receives(a).some((f) => f.data.text === 'back' && f.data.sender_id === bId), 'the reply from bId');

    // It acked them all (texto.js acks each receive): coming back once more brings only what is new.
    await b1.close();
    const b2 = track(await connected(m));
    await b2.register(bId);
    await a.sendMessage(bId, 'new');
    await b2.until(() => b2.received.length >= 1, 'the new receive');
    // Give an (erroneous) redelivery every chance to arrive before the marker that closes the check.
    await a.sendMessage(bId, 'marker');
    await b2.until(() => b2.received.some((f) => f.data.text === 'marker'), 'the marker');
    expect(b2.received.map((f) => f.data.text)).toEqual(['new', 'marker']);
  });

  it('a receive that was not acked is sent again, with the same id, when the client comes back', async () => {
    const a = track(await connected(m));
    const b = await connected(m, { autoAck: false });
    await a.sendMessage(b.id, 'one');
    await a.sendMessage(b.id, 'two');
    await b.until(() => b.received.length === 2, 'two receives');
    const [one, two] = b.received;
    b.ack(one!.id);
    // The ack is a frame like any other: wait for it to be taken (the registration after it is answered after it).
    const r = new TextoMessage(b.id, 'registration', null);
    b.sendRaw(r);
    await b.next((f) => f.id === r.id, 'answer');
    await b.close();
    const again = track(await connected(m));
    await again.register(b.id);
    await again.until(() => again.received.length >= 1, 'the redelivery');
    await a.sendMessage(b.id, 'marker');
    await again.until(() => again.received.some((f) => f.data.text === 'marker'), 'the marker');
    expect(again.received.map((f) => [f.id, f.data.text])).toEqual([
      [two!.id, 'two'],
      [expect.any(String), 'marker'],
    ]);
  });
});

describe('with users (auth): a client id is bound to the user it was issued to', () => {
  let m: Mounted;
  const clients: TextoClient[] = [];
  beforeAll(async () => {
    // The embedder's authenticate names the user (the x-user header); any user binds the ids issued to it.
    m = await mount('http', textoConfig(), { authenticate: headerUser });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await m.close();
  });

  it("another user cannot claim it (and gets none of its messages); its own user can", async () => {
    const as = (user: string, options = {}): Promise<TextoClient> =>
      new TextoClient(hostOf(m), { headers: { 'x-user': user }, ...options }).connect().then((c) => (clients.push(c), c));
    const alice0 = await as('alice');
    const aliceId = alice0.id;
    await alice0.close();
    const sender = await as('carol');
    await sender.sendMessage(aliceId, 'for alice only');

    const mallory = await as('mallory');
    const answer = await mallory.register(aliceId);
    expect(answer).toEqual({ client_id: mallory.id });
    expect(mallory.id).not.toBe(aliceId);
    // It may still send as itself, and hears nothing of alice's.
    await sender.sendMessage(mallory.id, 'for mallory');
    await mallory.until(() => mallory.received.length >= 1, 'its own receive');
    expect(mallory.received.map((f) => f.data.text)).toEqual(['for mallory']);

    const alice = await as('alice');
    expect(await alice.register(aliceId)).toEqual({ client_id: aliceId });
    await alice.until(() => alice.received.length >= 1, "alice's stored message");
    expect(alice.received.map((f) => f.data.text)).toEqual(['for alice only']);
  });
});

describe('docs/compat.md § Texto v1 runs as written', () => {
  const section = readFileSync(path.join(ROOT, 'docs/compat.md'), 'utf8').split('\n## Texto v1\n')[1]!.split('\n## ')[0]!;
  const block = (lang: string): string => new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(section)![1]!;

  it('its config serves Texto, and its register() snippet for texto.js takes an id back', async () => {
    const yaml = block('yaml');
    const compiled = await compileService({ config: YAML.parse(yaml), baseDir: tempDir() });
    expect(compiled.messageHandlers.map((h) => [h.entry.handler, (h.options as { idleTimeoutMs: number }).idleTimeoutMs])).toEqual([['TextoHandler', 300_000]]);
    const m = await mount('http', writeConfig(yaml, tempDir('msghub-texto-doc-')));
    // The snippet, run on a copy of texto.js's classes (the harness's own register() is replaced by the doc's).
    class DocClient extends TextoClient {}
    new Function('TextoClient', 'TextoMessage', block('js'))(DocClient, TextoMessage);
    expect(DocClient.prototype.register).not.toBe(TextoClient.prototype.register);
    const clients: TextoClient[] = [];
    try {
      const first = await new DocClient(hostOf(m)).connect();
      clients.push(first);
      const id = first.id;
      await first.close();
      const sender = await new DocClient(hostOf(m)).connect();
      clients.push(sender);
      await sender.sendMessage(id, 'while away');
      const back = await new DocClient(hostOf(m)).connect();
      clients.push(back);
      expect(await back.register(id)).toEqual({ client_id: id });
      expect(back.id).toBe(id);
      await back.until(() => back.received.length === 1, 'the stored receive');
      expect(back.received[0]!.data).toEqual({ sender_id: sender.id, text: 'while away' });
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await m.close();
    }
  });
});
