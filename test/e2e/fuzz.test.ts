/**
 * The property-based attack test (issue 14): random hostile JSON and query strings — deep nesting, huge and
 * tiny numbers as written, reserved and prototype keys, lone surrogates, odd types, long text, text that is not
 * JSON — at every entry point of a real `msghub serve` process: a WebSocket frame, an HTTP POST/PUT/DELETE
 * body, the query string of a history read, of a WebSocket handshake, of Server-Sent Events and of a long-poll,
 * and a FileHandler path. For every input:
 *
 * - the process stays up, and a known-good request still answers normally afterwards;
 * - every answer is the normal reply or a catalogued `{_error: {code, message}}` (over HTTP with that code's
 *   status; a server fault such as MH_ERR_INTERNAL is a finding, since hostile input must be a 4xx); relayed
 *   frames carry no forged server key, no `__proto__` key and no lone surrogate; the handler whose `open` pins
 *   `recipient` never shows another recipient's row;
 * - a refusal leaves every table of the database exactly as it was.
 *
 * Reproducible: a fixed seed by default. Explore with MSGHUB_FUZZ_SEED=<n> and MSGHUB_FUZZ_RUNS=<runs per entry
 * point>; a failure prints the seed, the fast-check path and the shrunk input. A crash restarts the server for
 * the next input, so shrinking still works and the other entry points still run.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalog } from '../../src/errors.js';
import { bodyArb, frameArb, hostile, queryArb } from '../support/fuzz-json.js';
import { RawSse, RawWs, WAIT_MS, closeProblems, dump, errorProblems, frameProblems, parse, request, type FrameKind } from '../support/fuzz-wire.js';
import { startCli, type Mounted } from '../support/mounts.js';
import { tempDir, writeConfig } from '../support/tmp.js';

const SEED = Number(process.env.MSGHUB_FUZZ_SEED ?? 14_2026);
const RUNS = Number(process.env.MSGHUB_FUZZ_RUNS ?? 200);
/** Per entry point, shrinking included: the file stays well under a minute even when something fails. */
const TIME_LIMIT_MS = Number(process.env.MSGHUB_FUZZ_TIME_MS ?? 15_000);

const COLUMNS = {
  plain: ['t', 'n', 'r', 'b'],
  hooked: ['body', 'recipient', 'length', 'tag'],
} as const;
type HandlerName = keyof typeof COLUMNS;
const HANDLERS = Object.keys(COLUMNS) as HandlerName[];

const CONFIG = `
url:
  plain:
    pattern: /plain
    handler: MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/fuzz.db
      table: plain
      columns: {t: TEXT, n: INTEGER, r: REAL, b: BOOLEAN}
      limits: {messages_per_second: 0, max_connections_per_ip: 0}
  hooked:
    pattern: /hooked
    handler: MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/fuzz.db
      table: hooked
      columns: {body: TEXT, recipient: TEXT, length: INTEGER, tag: TEXT}
      direct: true
      open: "args.recipient = ['fuzz']"
      prepare: >
        msg.length = String(msg.body ?? '').length;
        msg.body === 'reject-me' ? reject('rejected') : ''
      modify: "msg.tag = typeof msg.body"
      limits: {messages_per_second: 0, max_connections_per_ip: 0}
  files:
    pattern: /files/(.*)
    handler: FileHandler
    kwargs: {path: $YAMLPATH/}
`;

let dir: string;
let configFile: string;
let dbFile: string;
let server: Mounted;
/** The server's stderr (MSGHUB_LOG=error): the stack of a crash or of an unexpected error. */
let log = '';
const ids: Record<HandlerName, string[]> = { plain: [], hooked: [] };

async function start(): Promise<void> {
  server = await startCli(configFile);
  server.child!.stderr!.on('data', (d) => (log = (log + String(d)).slice(-200_000)));
}

const alive = (): boolean => server.child!.exitCode === null && server.child!.signalCode === null;

/** Resolves when the server process has exited, or after `ms`. */
function exited(ms: number): Promise<void> {
  const child = server.child!;
  if (!alive()) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    // 'close', not 'exit': by then its stderr (the crash's stack) has been read.
    child.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The database now; for the hooked handler, also which ids may be shown to its pinned subscribers. */
const snapshot = (): ReturnType<typeof dump> => dump(dbFile, 'hooked');

/** Whether a frame may reach a subscriber of /hooked, whose `open` pins `recipient` to 'fuzz'. */
function pinCheck(allowed: Set<string>): (f: Record<string, unknown>) => string | null {
  return (f) => {
    // A PUT is heard by those who could see the row before or after it, so its new recipient may differ.
    if (f._method !== 'PUT' && f._method !== 'DELETE' && Object.hasOwn(f, 'recipient')) {
      return f.recipient === 'fuzz' ? null : `open pinned recipient to 'fuzz' but a frame for ${JSON.stringify(f.recipient)} was shown`;
    }
    if (typeof f.id === 'string' && !allowed.has(f.id) && f._method !== 'POST') return `open pinned recipient to 'fuzz' but row ${f.id} (never 'fuzz') was shown`;
    return null;
  };
}

/**
 * One fuzz input against the server: restarts a dead server first (so the next input, and shrinking, run
 * against a live one), runs `attempt`, then requires the process alive and a known-good read answering 200.
 * Throws every problem found, with the server log written meanwhile.
 */
async function probe(attempt: () => Promise<string[]>): Promise<void> {
  if (!alive()) await start();
  const mark = log.length;
  let problems: string[];
  try {
    problems = await attempt();
  } catch (err) {
    problems = [`no valid answer: ${(err as Error).message}`];
  }
  const ok = alive() ? await request(server.http, 'GET', '/plain?_limit=0').catch((e: Error) => ({ status: 0, text: e.message })) : { status: 0, text: 'not running' };
  if (ok.status !== 200 || ok.text !== '[]') {
    // Blame this input, not the next one: wait for a dying process to exit (its stack is then in the log),
    // stop one that hangs, and start a fresh server before the next input runs.
    await exited(WAIT_MS);
    if (alive()) {
      problems.push(`the server stopped answering: a known-good read got ${ok.status} ${ok.text.slice(0, 200)}`);
      server.child!.kill('SIGKILL');
      await exited(WAIT_MS);
    } else problems.push(`the server process died (exit ${server.child!.exitCode}, signal ${server.child!.signalCode})`);
    await start();
  }
  if (problems.length) {
    const tail = log.slice(mark).slice(0, 6000);
    throw new Error(`${[...new Set(problems)].join('\n')}${tail ? `\n--- server log ---\n${tail}` : ''}`);
  }
}

/** fast-check with this file's seed and bounds; the seed to replay is in the message on failure. */
async function check<T>(name: string, offset: number, arb: fc.Arbitrary<T>, run: (input: T) => Promise<void>): Promise<void> {
  const seed = SEED + offset;
  try {
    await fc.assert(fc.asyncProperty(arb, run), { seed, numRuns: RUNS, interruptAfterTimeLimit: TIME_LIMIT_MS, markInterruptAsFailure: false });
  } catch (err) {
    (err as Error).message = `${name}: replay with MSGHUB_FUZZ_SEED=${SEED} (seed of this entry point: ${seed})\n${(err as Error).message}`;
    throw err;
  }
}

/** Checks the answer frames of a socket; returns the problems and the kinds seen. */
function frames(texts: readonly string[], h: HandlerName, allowed: Set<string>): { problems: string[]; kinds: (FrameKind | null)[]; values: unknown[] } {
  const problems: string[] = [];
  const kinds: (FrameKind | null)[] = [];
  const values: unknown[] = [];
  for (const t of texts) {
    const r = frameProblems(t, h === 'hooked' ? pinCheck(allowed) : undefined);
    problems.push(...r.problems);
    kinds.push(r.kind);
    values.push(r.value);
  }
  return { problems, kinds, values };
}

/** With MSGHUB_FUZZ_STATS=1, how each entry point's inputs were answered (to check the inputs reach deep enough). */
const stats = new Map<string, number>();
function count(entry: string, outcome: string): void {
  const k = `${entry}: ${outcome}`;
  stats.set(k, (stats.get(k) ?? 0) + 1);
}
/** An answer's outcome for the stats: the error code, or what was accepted. */
function outcome(texts: readonly string[]): string {
  const codes = texts.map((t) => /"code":"(\w+)"/.exec(t)?.[1]).filter(Boolean);
  return codes.length ? [...new Set(codes)].join('+') : texts.length ? 'normal reply' : 'no answer';
}

/** A refusal must leave the database as it was. */
function unchanged(before: string, after: string, what: string): string[] {
  return before === after ? [] : [`${what}, yet the database changed`];
}

let probeCount = 0;
/**
 * A frame answered with MH_ERR_MSG_NOT_FOUND that changes nothing. A socket's frames are processed in order,
 * so its reply comes after every answer to the frames before it (and after the history, on a new socket).
 */
function probeFrame(): { text: string; ref: string } {
  const ref = `probe-${++probeCount}`;
  return { text: JSON.stringify({ _method: 'DELETE', id: 'no-such-row', _ref: ref }), ref };
}
const isProbeReply = (text: string, ref: string): boolean => text.includes(`"_ref":"${ref}"`);

describe('property-based attack: hostile input at every entry point', () => {
  const sockets: Partial<Record<HandlerName, RawWs>> = {};

  beforeAll(async () => {
    dir = tempDir('msghub-fuzz-');
    configFile = writeConfig(CONFIG, dir);
    dbFile = path.join(dir, 'fuzz.db');
    writeFileSync(path.join(dir, 'index.html'), '<h1>fuzz</h1>');
    await start();
    // Rows for PUT and DELETE to address, of every type, and rows for and not for the pinned recipient.
    const seeds: Record<HandlerName, Record<string, unknown>[]> = {
      plain: [{ t: 'a', n: 1, r: 1.5, b: true }, { t: 'é😀', n: -5, r: 1e300, b: false }, { t: null, n: 9007199254740991, r: -0.25 }, { t: 'x'.repeat(500) }],
      hooked: [{ body: 'for fuzz', recipient: 'fuzz' }, { body: 'secret', recipient: 'other' }, { body: 'also fuzz', recipient: 'fuzz' }, { body: 'hidden', recipient: 'other' }],
    };
    // One request per row: array bodies are under test below, and must not stop the other entry points.
    for (const h of HANDLERS) {
      for (const row of seeds[h]) {
        const res = await request(server.http, 'POST', `/${h}`, { body: JSON.stringify(row) });
        expect(res.status, res.text).toBe(201);
        ids[h].push((JSON.parse(res.text) as { id: string }).id);
      }
    }
  });

  afterAll(async () => {
    if (process.env.MSGHUB_FUZZ_STATS === '1') console.log([...stats].sort().map(([k, n]) => `${n}\t${k}`).join('\n'));
    await Promise.all(Object.values(sockets).map((s) => s?.close()));
    if (server && alive()) await server.close();
  });

  /** The handler's long-lived socket for frames (reopened after the server closed it), ready for frames. */
  async function socketFor(h: HandlerName): Promise<RawWs> {
    const s = sockets[h];
    if (s?.open) return s;
    const hs = await RawWs.open(`${server.ws}/${h}`);
    if (!hs.ok) throw new Error(`a plain handshake to /${h} was refused with ${hs.status} ${hs.body}`);
    const p = probeFrame();
    hs.ws.send(p.text);
    await hs.ws.until(() => hs.ws.texts.some((t) => isProbeReply(t, p.ref)), 'history and the first probe');
    sockets[h] = hs.ws;
    return hs.ws;
  }

  it('WebSocket frames: each is answered by an ack, an event or a catalogued _error, and a refusal stores nothing', async () => {
    const arb = fc.constantFrom(...HANDLERS).chain((h) =>
      fc.record({ h: fc.constant(h), frame: hostile(frameArb(COLUMNS[h], ids[h])), as: fc.oneof({ weight: 6, arbitrary: fc.constant('text') }, { weight: 2, arbitrary: fc.constant('binary') }, { weight: 1, arbitrary: fc.constant('binary, bad UTF-8') }) }),
    );
    await check('WebSocket frame', 1, arb, (input) =>
      probe(async () => {
        const before = snapshot();
        const ws = await socketFor(input.h);
        const from = ws.texts.length;
        const text = input.frame.text;
        if (input.as === 'text') ws.send(text);
        else ws.send(Buffer.concat([input.as === 'binary' ? Buffer.alloc(0) : Buffer.from([0xff, 0xc0]), Buffer.from(text)]), true);
        const p = probeFrame();
        ws.send(p.text);
        await ws.until(() => ws.texts.slice(from).some((t) => isProbeReply(t, p.ref)), 'the reply to the probe that follows the frame');
        const answers = ws.texts.slice(from).filter((t) => !isProbeReply(t, p.ref));
        const reply = ws.texts.slice(from).find((t) => isProbeReply(t, p.ref));
        const after = snapshot();
        const { problems, kinds } = frames(answers, input.h, after.pinnedIds);
        problems.push(...closeProblems(ws.closeCode));
        if (reply && !reply.includes('MH_ERR_MSG_NOT_FOUND')) problems.push(`the probe after the frame was answered ${reply.slice(0, 300)}`);
        const refused = kinds.includes('error') || ws.closeCode !== null;
        count('ws', ws.closeCode !== null ? `close ${ws.closeCode}` : outcome(answers));
        if (refused) problems.push(...unchanged(before.text, after.text, `the frame was refused (${answers.join(' ').slice(0, 300)}; close ${ws.closeCode})`));
        // On /plain the socket hears every change: a committed message must reach it (issue 14, item 3).
        if (!refused && input.h === 'plain' && after.text !== before.text && !kinds.includes('event')) {
          await ws.until(() => ws.texts.slice(from).some((t) => frameProblems(t).kind === 'event'), 'the broadcast of a committed message', 2000).catch(() => undefined);
          if (!ws.texts.slice(from).some((t) => frameProblems(t).kind === 'event')) problems.push('a committed message was never broadcast to its subscriber');
        }
        return problems;
      }),
    );
  }, 60_000);

  it('HTTP bodies: POST/PUT/DELETE answer the stored message(s) or a catalogued _error with its status, and a refusal stores nothing', async () => {
    const arb = fc.constantFrom(...HANDLERS).chain((h) =>
      fc.record({
        h: fc.constant(h),
        method: fc.constantFrom('POST', 'PUT', 'DELETE'),
        body: hostile(bodyArb(COLUMNS[h], ids[h])),
        type: fc.constantFrom('application/json', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', ''),
      }),
    );
    await check('HTTP body', 2, arb, (input) =>
      probe(async () => {
        const before = snapshot();
        const res = await request(server.http, input.method, `/${input.h}`, { headers: input.type ? { 'content-type': input.type } : {}, body: input.body.text });
        const after = snapshot();
        const p = parse(res.text);
        if (!p.ok) return [`HTTP ${res.status} answer is not JSON: ${res.text.slice(0, 300)}`];
        const items = Array.isArray(p.value) ? p.value : [p.value];
        const problems: string[] = [];
        let errors = 0;
        for (const item of items) {
          const r = frameProblems(JSON.stringify(item));
          if (r.kind === 'error') {
            errors++;
            problems.push(...errorProblems(item, Array.isArray(p.value) ? undefined : res.status));
          } else {
            problems.push(...r.problems);
            if (r.kind !== 'event') problems.push(`HTTP ${res.status} answered ${JSON.stringify(item).slice(0, 200)}, neither a message nor an _error`);
          }
        }
        if (res.status >= 400 && errors === 0) problems.push(`HTTP ${res.status} without an _error: ${res.text.slice(0, 300)}`);
        if (res.status < 400 && !Array.isArray(p.value) && errors) problems.push(`HTTP ${res.status} with an _error`);
        if (res.status >= 400 && Array.isArray(p.value)) {
          const first = items.find((i) => frameProblems(JSON.stringify(i)).kind === 'error') as { _error: { code: keyof typeof catalog } };
          if (first && catalog[first._error.code]?.status !== res.status) problems.push(`array answered HTTP ${res.status}, but its first error ${first._error.code} is ${catalog[first._error.code]?.status}`);
        }
        count('http', outcome([res.text]));
        if (errors === items.length) problems.push(...unchanged(before.text, after.text, `the body was refused (${res.status} ${res.text.slice(0, 300)})`));
        return problems;
      }),
    );
  }, 60_000);

  /** A read's answer: a JSON array of rows/events, or a catalogued refusal; reads never change the database. */
  function readAnswer(h: HandlerName, res: { status: number; text: string }, before: string, after: ReturnType<typeof dump>): string[] {
    const problems = unchanged(before, after.text, `a read (${res.status})`);
    const p = parse(res.text);
    if (!p.ok) return [...problems, `HTTP ${res.status} answer is not JSON: ${res.text.slice(0, 300)}`];
    if (res.status !== 200) {
      count('read', outcome([res.text]));
      return [...problems, ...errorProblems(p.value, res.status)];
    }
    if (!Array.isArray(p.value)) return [...problems, `HTTP 200 read is not an array: ${res.text.slice(0, 300)}`];
    count('read', `200, ${p.value.length ? 'rows' : 'empty'}`);
    const r = frames(p.value.map((v) => JSON.stringify(v)), h, after.pinnedIds);
    if (r.kinds.includes('error')) problems.push(`HTTP 200 read holds an _error: ${res.text.slice(0, 300)}`);
    return [...problems, ...r.problems];
  }

  it('query strings on a history read (GET) answer rows or a catalogued _error', async () => {
    const arb = fc.constantFrom(...HANDLERS).chain((h) => fc.record({ h: fc.constant(h), q: queryArb(COLUMNS[h]) }));
    await check('GET query string', 3, arb, (input) =>
      probe(async () => {
        const before = snapshot();
        // `_wait=0` last: a `_since` in the fuzz turns this into a long-poll, which must not wait.
        const res = await request(server.http, 'GET', `/${input.h}?${input.q}&_wait=0`);
        return readAnswer(input.h, res, before.text, snapshot());
      }),
    );
  }, 60_000);

  it('query strings and paths on the FileHandler never reach a database or config file', async () => {
    const arb = fc.record({
      file: fc.constantFrom('index.html', 'fuzz.db', 'fuzz.db-wal', 'fuzz.db-shm', 'FUZZ.DB-WAL', 'gramex.yaml', 'nope', '..%2fgramex.yaml', '%00', 'a/../fuzz.db', ''),
      q: queryArb(['t']),
    });
    await check('FileHandler', 4, arb, (input) =>
      probe(async () => {
        const before = snapshot();
        const res = await request(server.http, 'GET', `/files/${input.file}?${input.q}`);
        const problems = unchanged(before.text, snapshot().text, 'a file read');
        if (![200, 304, 403, 404].includes(res.status)) problems.push(`FileHandler answered ${res.status}`);
        if (res.status === 200 && input.file !== 'index.html' && input.file !== '') problems.push(`FileHandler served ${input.file}: ${res.text.slice(0, 100)}`);
        return problems;
      }),
    );
  }, 60_000);

  it('query strings on a WebSocket handshake: a catalogued refusal, or history then live (or _error and close 4400)', async () => {
    const arb = fc.constantFrom(...HANDLERS).chain((h) => fc.record({ h: fc.constant(h), q: queryArb(COLUMNS[h]) }));
    await check('WebSocket handshake', 5, arb, (input) =>
      probe(async () => {
        const before = snapshot();
        const hs = await RawWs.open(`${server.ws}/${input.h}?${input.q}`);
        if (!hs.ok) {
          const p = parse(hs.body);
          return [...unchanged(before.text, snapshot().text, 'a refused handshake'), ...(p.ok ? errorProblems(p.value, hs.status) : [`handshake refused with ${hs.status} and a body that is not JSON: ${hs.body.slice(0, 200)}`])];
        }
        const ws = hs.ws;
        try {
          const p = probeFrame();
          ws.send(p.text);
          await ws.until(() => ws.texts.some((t) => isProbeReply(t, p.ref)), 'history, then the probe reply');
          const answers = ws.texts.filter((t) => !isProbeReply(t, p.ref));
          const after = snapshot();
          const r = frames(answers, input.h, after.pinnedIds);
          const problems = [...unchanged(before.text, after.text, 'a subscription'), ...r.problems];
          if (r.kinds.includes('error')) {
            await ws.until(() => false, 'the close after an _error').catch(() => undefined);
            if (ws.closeCode !== 4400 && ws.closeCode !== 4429) problems.push(`a subscription refused with ${answers.join(' ').slice(0, 200)} was closed with ${ws.closeCode}`);
          }
          problems.push(...closeProblems(ws.closeCode));
          return problems;
        } finally {
          await ws.close();
        }
      }),
    );
  }, 60_000);

  it('query strings on Server-Sent Events: the same history as a WebSocket, or _error and a close event', async () => {
    const arb = fc.constantFrom(...HANDLERS).chain((h) => fc.record({ h: fc.constant(h), q: queryArb(COLUMNS[h]) }));
    await check('SSE', 6, arb, (input) =>
      probe(async () => {
        const before = snapshot();
        const sse = await RawSse.open(server.http, `/${input.h}?${input.q}`);
        try {
          if (sse.status !== 200) {
            const p = parse(sse.errorBody);
            return [...unchanged(before.text, snapshot().text, 'a refused stream'), ...(p.ok ? errorProblems(p.value, sse.status) : [`SSE refused with ${sse.status} and a body that is not JSON`])];
          }
          // The stream has no end-of-history marker: a WebSocket with the same query, whose probe is answered
          // after its history, says how much history there is (nothing is posted meanwhile).
          const twin = await RawWs.open(`${server.ws}/${input.h}?${input.q}`);
          let expected = 0;
          let refusedTwin = false;
          if (twin.ok) {
            const p = probeFrame();
            twin.ws.send(p.text);
            await twin.ws.until(() => twin.ws.texts.some((t) => isProbeReply(t, p.ref)), 'the twin socket’s history');
            const hist = twin.ws.texts.filter((t) => !isProbeReply(t, p.ref));
            refusedTwin = hist.some((t) => frameProblems(t).kind === 'error');
            expected = hist.length;
            await twin.ws.close();
          }
          await sse.until(() => sse.closeEvent !== null || (!refusedTwin && sse.data.length >= expected), refusedTwin ? 'the close event of a refused stream' : `${expected} history frames`);
          const after = snapshot();
          const r = frames(sse.data, input.h, after.pinnedIds);
          const problems = [...unchanged(before.text, after.text, 'a stream'), ...r.problems];
          if (sse.closeEvent !== null) {
            const c = parse(sse.closeEvent);
            const code = c.ok && c.value !== null && typeof c.value === 'object' ? (c.value as { code?: unknown }).code : undefined;
            if (typeof code !== 'number') problems.push(`close event without a code: ${sse.closeEvent}`);
            else problems.push(...closeProblems(code));
          }
          return problems;
        } finally {
          sse.close();
        }
      }),
    );
  }, 60_000);

  it('query strings on long-polls (_since, _wait and filters): an array of events or a catalogued _error', async () => {
    const arb = fc.constantFrom(...HANDLERS).chain((h) =>
      fc.record({
        h: fc.constant(h),
        q: queryArb(COLUMNS[h]),
        since: fc.oneof(fc.constantFrom('0', '1', '-1', '', '1e308', '99999999999999999999', 'abc', '0x1', '1.5', '%ED%A0%80', '%D9%A3'), fc.nat({ max: 2000 }).map(String)),
        // Each bounded: the answer comes at once or within a millisecond (a valid `_wait` waits that long).
        wait: fc.constantFrom('0', '00', '0.0', '0.001', 'x', '-1', '1e1', '', 'Infinity', 'NaN', '%200', '%D9%A3'),
      }),
    );
    await check('long-poll', 7, arb, (input) =>
      probe(async () => {
        const before = snapshot();
        const res = await request(server.http, 'GET', `/${input.h}?${input.q}&_since=${input.since}&_wait=${input.wait}`);
        return readAnswer(input.h, res, before.text, snapshot());
      }),
    );
  }, 60_000);
});
