// Scenario 7 and the design checks, in one process on the server's core, against the built library (dist/):
//
//   pipeline   µs per message: parse, the default chain (built-in POST defaults + normalize), + a typical prepare
//   filters    µs per message of hub.publish with 1 and with 10 filter groups (predicates + serialization)
//   encode     serializations per event: 10 groups sharing a projection, and 10 groups over 2 projections
//   deliver    µs and heap bytes per delivery through Subscriber → WsSocket (1000 subscribers, fake ws sockets),
//              and whether a turn's frames are concatenated once or once per subscriber
//   store      µs per message of SqliteStore.write (batch of 1 vs 100) and prepare() calls on the hot path
//   open       µs and retained heap bytes per MessageHandler.open (a new subscriber, empty table), with no filter
//              and with a one-condition filter (`?channel!=zzN`: 10 distinct filters among the subscribers)
//
//   node --expose-gc bench/workers/micro.mjs [--quick]      prints one JSON line
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST = process.env.BENCH_DIST ? path.resolve(process.env.BENCH_DIST) : path.join(ROOT, 'dist');
const dist = (p) => import(path.join(DIST, p));
const smoke = process.argv.includes('--smoke');
const quick = smoke || process.argv.includes('--quick');
const N = smoke ? 3000 : quick ? 20_000 : 100_000;
const ROUNDS = smoke ? 3 : quick ? 5 : 7;

const { compileService } = await dist('service.js');
const { createPipeline } = await dist('pipeline/run.js');
const { parseFrame } = await dist('pipeline/parse.js');
const { Hub } = await dist('hub/hub.js');
// The subscriber class moved (connection.js → core/subscriber.js, with a codec and a subscriber key): this
// worker measures either build, so an A/B against an older dist still runs.
const { codec, newSubscriber } = await (async () => {
  try {
    const { Subscriber } = await dist('core/subscriber.js');
    const { msghubCodec } = await dist('protocol/msghub.js');
    return { codec: msghubCodec, newSubscriber: (sink, scope, log) => new Subscriber(sink, scope, msghubCodec, null, log) };
  } catch {
    const { Connection } = await dist('connection.js');
    return { codec: null, newSubscriber: (sink, scope, log) => new Connection(sink, scope, log) };
  }
})();
const { WsSocket } = await dist('transport/ws.js');
// (transport/socket.js before the Sink was named for what it is)
const { Payload } = await dist('transport/sink.js').catch(() => dist('transport/socket.js'));
const { parseFilter } = await dist('filter/index.js');
const { createStore } = await dist('store/sql-store.js');

const out = { iterations: N, rounds: ROUNDS };
const errors = {};
const log = () => {};

const TEXT = JSON.stringify({
  seq: '0000000001',
  user: 'alice',
  timestamp: '2023-05-06T12:34:56.789Z',
  channel: 'general',
  body: 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis',
});
const PREPARE = "msg.length = (msg.body ?? '').length; msg.body.length > 500 ? reject('too long') : ''";

const tmpDirs = [];
process.on('exit', () => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

async function handlerConfig(extra = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msghub-micro-'));
  tmpDirs.push(dir);
  const kwargs = { url: `sqlite:///${dir}/m.db`, table: 'messages', columns: { seq: 'TEXT', channel: 'TEXT', body: 'TEXT' }, ...extra };
  const svc = await compileService({ config: { url: { bench: { pattern: '/bench', handler: 'MessageHandler', kwargs } } }, baseDir: dir });
  return { config: svc.messageHandlers[0].config, dir };
}

/**
 * µs per iteration of fn: the fastest of ROUNDS rounds of n iterations, after a warm-up round. On a shared,
 * noisy machine a round can only be slowed down by others, so the minimum is the least disturbed estimate.
 */
function time(fn, n = N) {
  for (let i = 0; i < Math.min(n, smoke ? 1000 : 20_000); i++) fn(i);
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn(i);
    rounds.push(Number(process.hrtime.bigint() - t) / n / 1000);
  }
  return Number(Math.min(...rounds).toFixed(3));
}

const scope = Object.freeze({
  name: 'bench',
  current_user: null,
  session: Object.freeze({ id: null }),
  args: {},
  request: Object.freeze({ ip: '127.0.0.1', headers: Object.freeze({}) }),
});

// --- pipeline -------------------------------------------------------------------------------------------------
let sampleFrame;
let sampleReq;
try {
  const plain = createPipeline((await handlerConfig()).config, log);
  const withPrepare = createPipeline((await handlerConfig({ prepare: PREPARE })).config, log);
  const parse = time(() => parseFrame(TEXT));
  const chain = time(() => plain(parseFrame(TEXT), scope));
  const prepared = time(() => withPrepare(parseFrame(TEXT), scope));
  const p = plain(parseFrame(TEXT), scope);
  sampleFrame = p.frame;
  sampleReq = p.req;
  out.pipeline = { parseUs: parse, parseAndDefaultChainUs: chain, parseChainAndPrepareUs: prepared };
} catch (err) {
  errors.pipeline = String(err?.stack ?? err);
}

// --- filters and serialization ----------------------------------------------------------------------------------
const columns = (await handlerConfig()).config.columns;
const filterOf = (args) => parseFilter(args, columns, { reserved: new Set(['_since']) });
const eventFor = (seq) => ({ seq, method: 'POST', id: sampleReq.id, before: null, after: { ...sampleReq.values, _seq: seq }, changed: [] });
const noop = (filter) => ({ filter, codec, deliver() {} });
try {
  const one = new Hub();
  one.subscribe(noop(filterOf({ 'channel!': ['zz0'] })));
  const ten = new Hub();
  for (let g = 0; g < 10; g++) ten.subscribe(noop(filterOf({ 'channel!': [`zz${g}`] })));
  const ev = eventFor(1);
  const f = { ...sampleFrame, _seq: 1 };
  const us1 = time(() => one.publish(ev, f));
  const us10 = time(() => ten.publish(ev, f));
  out.filters = { publish1GroupUs: us1, publish10GroupsUs: us10, perExtraGroupUs: Number(((us10 - us1) / 9).toFixed(3)) };

  // serializations per event, counted at Payload.of
  // (a newer hub encodes projections through the codec: counted there too)
  let made = 0;
  const origOf = Payload.of;
  Payload.of = function (...a) {
    made++;
    return origOf.apply(this, a);
  };
  const origEvent = codec?.event;
  if (codec)
    codec.event = function (...a) {
      made++;
      return origEvent.apply(this, a);
    };
  ten.publish(ev, f);
  const sameProjection = made;
  const mixed = new Hub();
  for (let g = 0; g < 10; g++) mixed.subscribe(noop(filterOf({ 'channel!': [`zz${g}`], _c: g % 2 ? ['body'] : ['channel'] })));
  made = 0;
  mixed.publish(ev, f);
  out.encode = { groups10SameProjection: sameProjection, groups10TwoProjections: made };
  Payload.of = origOf;
  if (codec) codec.event = origEvent;
} catch (err) {
  errors.filters = String(err?.stack ?? err);
}

// --- per-subscriber delivery through Subscriber → WsSocket ---------------------------------------------------------
try {
  const SUBS = 1000;
  const PER_TURN = 8;
  let writes = 0;
  const written = new Set();
  const fakeWs = () => ({
    readyState: 1,
    bufferedAmount: 0,
    _sender: {
      _state: 0,
      _queue: [],
      sendFrame(list) {
        writes++;
        written.add(list[0]);
      },
    },
    close() {},
    send() {},
  });
  const hub = new Hub();
  for (let i = 0; i < SUBS; i++) {
    const c = newSubscriber(new WsSocket(fakeWs(), { maxBufferedBytes: 4 << 20 }), scope, log);
    c.filter = filterOf({ 'channel!': [`zz${i % 10}`] });
    c.goLive(0);
    hub.subscribe(c);
  }
  const turn = () => new Promise((r) => setImmediate(r));
  const frames = Array.from({ length: PER_TURN }, (_, k) => ({ ...sampleFrame, _seq: k + 1 }));
  const events = frames.map((_, k) => eventFor(k + 1));
  for (let w = 0; w < (smoke ? 20 : 200); w++) {
    for (let k = 0; k < PER_TURN; k++) hub.publish(events[k], frames[k]);
    await turn();
  }
  const turns = smoke ? 30 : quick ? 300 : 1500;
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    let ns = 0n;
    for (let t = 0; t < turns; t++) {
      const t0 = process.hrtime.bigint();
      for (let k = 0; k < PER_TURN; k++) hub.publish(events[k], frames[k]);
      await turn();
      ns += process.hrtime.bigint() - t0;
    }
    rounds.push(Number(ns) / (turns * PER_TURN * SUBS) / 1000);
  }
  rounds.sort((a, b) => a - b); // fastest round first
  // heap per delivery: one turn's publishes to every subscriber, before the flush, right after a forced GC.
  // The minimum over the samples is reported: a sample can only be inflated (by GC bookkeeping), never deflated.
  const samples = [];
  for (let s = 0; s < 15; s++) {
    await turn();
    global.gc?.();
    const h0 = process.memoryUsage().heapUsed;
    for (let k = 0; k < PER_TURN; k++) hub.publish(events[k], frames[k]);
    const h1 = process.memoryUsage().heapUsed;
    samples.push((h1 - h0) / (PER_TURN * SUBS));
  }
  samples.sort((a, b) => a - b);
  writes = 0;
  written.clear();
  for (let k = 0; k < PER_TURN; k++) hub.publish(events[k], frames[k]);
  await turn();
  out.deliver = {
    subscribers: SUBS,
    framesPerTurn: PER_TURN,
    usPerDelivery: Number(rounds[0].toFixed(4)),
    heapBytesPerDelivery: Number(samples[0].toFixed(1)),
    writesPerSubscriberPerTurn: writes / SUBS,
    distinctBuffersPerTurn: written.size,
  };
} catch (err) {
  errors.deliver = String(err?.stack ?? err);
}

// --- store writes ---------------------------------------------------------------------------------------------------
try {
  const { config, dir } = await handlerConfig();
  const store = createStore(config.db, config.table, config.columns);
  await store.init();
  const run = createPipeline(config, log);
  let prepares = 0;
  const origPrepare = Database.prototype.prepare;
  Database.prototype.prepare = function (...a) {
    prepares++;
    return origPrepare.apply(this, a);
  };
  const reqs = (k) => Array.from({ length: k }, () => run(parseFrame(TEXT), scope).req);
  const writeUs = async (batch, total) => {
    const batches = Array.from({ length: Math.ceil(total / batch) }, () => reqs(batch));
    const t = process.hrtime.bigint();
    for (const b of batches) await store.write(b);
    return Number(process.hrtime.bigint() - t) / (batches.length * batch) / 1000;
  };
  await writeUs(100, 2000);
  prepares = 0;
  const total = smoke ? 500 : quick ? 5000 : 20000;
  const b1 = await writeUs(1, total / 5);
  const b100 = await writeUs(100, total);
  out.store = { usPerMsgBatch1: Number(b1.toFixed(2)), usPerMsgBatch100: Number(b100.toFixed(2)), preparesDuringWrites: prepares };
  Database.prototype.prepare = origPrepare;
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
} catch (err) {
  errors.store = String(err?.stack ?? err);
}

// --- open: what a new subscriber costs the handler -------------------------------------------------------------------
try {
  const { MessageService } = await dist('service.js');
  const service = async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msghub-micro-'));
    tmpDirs.push(dir);
    const kwargs = { url: `sqlite:///${dir}/o.db`, table: 'messages', columns: { seq: 'TEXT', channel: 'TEXT', body: 'TEXT' } };
    return MessageService.start({ config: { url: { bench: { pattern: '/bench', handler: 'MessageHandler', kwargs } } }, baseDir: dir });
  };
  const socket = () => ({ send() {}, sendText() {}, close() {}, isOpen: true, backlogged: false, drained: () => Promise.resolve() });
  const heap = () => {
    globalThis.gc?.();
    globalThis.gc?.();
    return process.memoryUsage().heapUsed;
  };
  const K = smoke ? 2000 : 20_000;
  const infosFor = (argsOf) =>
    Array.from({ length: K }, (_, i) => ({ args: argsOf(i), user: null, sessionId: null, ip: '127.0.0.1', headers: { host: '127.0.0.1:9988', upgrade: 'websocket' }, expiresAt: null }));
  const openAll = (handler, infos, sockets) => Promise.all(infos.map((inf, i) => handler.open(sockets[i], inf)));
  const measure = async (argsOf) => {
    const infos = infosFor(argsOf);
    const sockets = infos.map(socket);
    // Time: the fastest of a few rounds of K opens (then K disconnects) on one handler.
    const timing = await service();
    const handler = timing.handlers.get('bench');
    let best = Infinity;
    for (let r = 0; r < Math.max(3, ROUNDS - 2); r++) {
      const t = process.hrtime.bigint();
      const conns = await openAll(handler, infos, sockets);
      best = Math.min(best, Number(process.hrtime.bigint() - t) / K / 1000);
      for (const c of conns) handler.disconnect(c);
    }
    await timing.close();
    // Bytes: K connections held by a fresh handler, after GC (a handler's Sets that grew and shrank before would
    // blur the difference); the info and socket objects exist before and are not counted.
    const fresh = await service();
    const h0 = heap();
    const held = await openAll(fresh.handlers.get('bench'), infos, sockets);
    const bytes = (heap() - h0) / K;
    if (held.some((c) => !c)) throw new Error('a connection was refused');
    await fresh.close();
    return { us: Number(best.toFixed(2)), bytes: Math.round(bytes) };
  };
  const none = await measure(() => ({}));
  const filtered = await measure((i) => ({ 'channel!': [`zz${i % 10}`] }));
  out.open = { connections: K, noFilterUs: none.us, noFilterBytes: none.bytes, filterUs: filtered.us, filterBytes: filtered.bytes };
} catch (err) {
  errors.open = String(err?.stack ?? err);
}

if (Object.keys(errors).length) out.errors = errors;
process.stdout.write(JSON.stringify(out) + '\n');
