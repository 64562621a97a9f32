/**
 * SimpleBus files (issue 19; reference/seed-systems.md §3.3, §3.4 "file", §3.7 test 12), through a real
 * http.Server over SQLite, and, for the 100 MB transfer, a real `msghub serve` child whose memory is sampled
 * from /proc/<pid>/status: upload (streamed, `max_file_bytes`, aborted uploads, crafted names), the file message
 * through the normal queue (delivered, redelivered, offline replay, confirmed), several files per request,
 * download with Range / If-Range only for recipients, DELETE, and removal once every recipient confirmed.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mount, startCli, type Mounted } from '../support/mounts.js';
import { tempDir, writeConfig } from '../support/tmp.js';
import { BusClient, post, type Frame } from './simplebus-harness.js';
import { digestOf, eventually, generated, putFiles, request } from './simplebus-files-harness.js';

const ADMIN: [string, string] = ['admin', 's3cret-admin'];
const PW = '12345';
const U1: [string, string] = ['user1', PW];
const U2: [string, string] = ['user2', PW];
const U3: [string, string] = ['user3', PW];
const U4: [string, string] = ['user4', PW];
const MAX = 200_000;

const CONFIG = (max: number): string => `
url:
  bus:
    pattern: /bus/(.*)
    handler: SimpleBusHandler
    kwargs:
      url: sqlite:///$YAMLPATH/bus.db
      table: sbfiles
      files_path: $YAMLPATH/files
      max_file_bytes: ${max}
      redelivery_seconds: 0.4
      max_redeliveries: 100
      ping_seconds: 0.2
      limits: {messages_per_second: 0}
  nofiles:
    pattern: /nofiles/(.*)
    handler: SimpleBusHandler
    kwargs:
      url: sqlite:///$YAMLPATH/bus.db
      table: sbnofiles
      limits: {messages_per_second: 0}
`;

/** Creates the first user by the signup form, then the others with put_users. */
async function createUsers(base: string): Promise<void> {
  const r = await fetch(`${base}/signup`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `name=${ADMIN[0]}&password=${ADMIN[1]}`, redirect: 'manual' });
  expect(r.status).toBe(302);
  const list = [U1, U2, U3, U4].map(([id]) => ({ _id: id, password: PW }));
  expect((await post(base, 'put_users', list, { user: ADMIN })).status).toBe(200);
}

describe('SimpleBus files on one node', () => {
  let dir: string;
  let files: string;
  let server: Mounted;
  let base: string;
  let wsUrl: string;
  let db: Knex;
  const clients: BusClient[] = [];

  const connect = async (u: [string, string]): Promise<BusClient> => {
    const c = await BusClient.connect(wsUrl, u[0], u[1]);
    clients.push(c);
    await c.live();
    return c;
  };
  const fileMessages = (c: BusClient): Frame[] => c.messages().filter((f) => f.type === 'file');
  const onDisk = (): string[] => (existsSync(files) ? readdirSync(files).sort() : []);
  const stored = async (): Promise<number> => Number((await db('sbfiles').count({ n: '*' }).first())?.n ?? 0);

  beforeAll(async () => {
    dir = tempDir('msghub-sbf-');
    files = path.join(dir, 'files');
    server = await mount('http', writeConfig(CONFIG(MAX), dir));
    base = `${server.http}/bus`;
    wsUrl = `${server.ws}/bus/ws`;
    db = knexFactory({ client: 'better-sqlite3', connection: { filename: path.join(dir, 'bus.db') }, useNullAsDefault: true });
    await createUsers(base);
  }, 30_000);

  afterAll(async () => {
    for (const c of clients) await c.close();
    await db?.destroy();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('§3.7 12: a file message reaches the recipient; Range resumes the download; DELETE, then 404 FILE NOT FOUND', async () => {
    const u2 = await connect(U2);
    const content = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
    const r = await putFiles(base, U1, { to: ['@user2'], message: 'the report', _id: 'f12', sender: 'forged', custom: 7 }, [{ field: 'report.pdf', body: content }]);
    expect([r.status, r.body.toString()]).toEqual([200, '']);
    await u2.received('f12');
    const m = fileMessages(u2).find((f) => f._id === 'f12')!;
    expect(m).toMatchObject({ _id: 'f12', type: 'file', filename: 'f12_report.pdf', display_filename: 'report.pdf', sender: 'user1', message: 'the report', custom: 7, to: ['@user2'] });

    const url = `${base}/download/${m.filename as string}`;
    const full = await request(url, U2);
    expect(full.status).toBe(200);
    expect(full.headers['accept-ranges']).toBe('bytes');
    expect(full.headers['content-type']).toBe('application/octet-stream');
    expect(full.headers['x-content-type-options']).toBe('nosniff');
    expect(full.body.equals(content)).toBe(true);
    const etag = full.headers.etag!;
    expect(etag).toMatch(/^W\/"[0-9a-f]+-[0-9a-f]+"$/);

    // Range: bytes=N- → 206 and the tail; a bounded range; a stale If-Range → the whole file; past the end → 416.
    const tail = await request(url, U2, { headers: { range: 'bytes=1234-', 'if-range': etag } });
    expect(tail.status).toBe(206);
    expect(tail.headers['content-range']).toBe(`bytes 1234-4999/5000`);
    expect(tail.body.equals(content.subarray(1234))).toBe(true);
    const mid = await request(url, U2, { headers: { range: 'bytes=10-19' } });
    expect([mid.status, mid.headers['content-length']]).toEqual([206, '10']);
    expect(mid.body.equals(content.subarray(10, 20))).toBe(true);
    const stale = await request(url, U2, { headers: { range: 'bytes=1234-', 'if-range': 'W/"0-0"' } });
    expect(stale.status).toBe(200);
    expect(stale.body.length).toBe(5000);
    const past = await request(url, U2, { headers: { range: 'bytes=5000-' } });
    expect([past.status, past.headers['content-range']]).toEqual([416, 'bytes */5000']);
    const head = await request(url, U2, { method: 'HEAD', headers: { range: 'bytes=100-' } });
    expect([head.status, head.headers['content-length'], head.body.length]).toEqual([206, '4900', 0]);

    const del = await request(url, U2, { method: 'DELETE' });
    expect([del.status, del.body.toString()]).toEqual([200, '']);
    for (const method of ['GET', 'DELETE']) {
      const again = await request(url, U2, { method });
      expect([again.status, again.body.toString()]).toEqual([404, 'FILE NOT FOUND']);
    }
    u2.confirm('f12');
  });

  it('only a recipient may download or delete a file; others get 404 as for a missing name', async () => {
    const r = await putFiles(base, U1, { to: ['@user2'], message: 'private', _id: 'priv' }, [{ field: 'secret.txt', body: Buffer.from('for user2 only') }]);
    expect(r.status).toBe(200);
    const url = `${base}/download/priv_secret.txt`;
    for (const who of [U3, U1]) {
      for (const method of ['GET', 'HEAD', 'DELETE']) {
        const res = await request(url, who, { method });
        expect([method, res.status], who[0]).toEqual([method, 404]);
        if (method !== 'HEAD') expect(res.body.toString()).toBe('FILE NOT FOUND');
      }
    }
    expect((await request(url, null)).status).toBe(401);
    expect((await request(url, [U2[0], 'wrong'])).status).toBe(401);
    // Still there for the recipient.
    const ok = await request(url, U2);
    expect([ok.status, ok.body.toString()]).toEqual([200, 'for user2 only']);
    // Names that are not stored names never reach the disk.
    for (const name of ['..%2F..%2Fbus.db', 'x%2F..%2F..%2Fbus.db', '.upload-x', '%00', 'priv_secret.txt%2F..', '%2Fetc%2Fpasswd', '%252Fetc%252Fpasswd']) {
      expect((await request(`${base}/download/${name}`, U2)).status, name).toBe(404);
    }
    // A path with a malformed escape is not msghub's: it falls through to the embedding app (here "host 404").
    for (const name of ['%E0%A4%A', '%zz']) {
      expect((await request(`${base}/download/${name}`, U2)).body.toString(), name).toBe('host 404');
    }
  });

  it('several files in one request all survive, each its own message (<_id>, <_id>_2, …)', async () => {
    const u2 = await connect(U2);
    const parts = [
      { field: 'a.txt', body: Buffer.from('first file') },
      { field: 'photo 1.jpg', body: Buffer.alloc(70_000, 1) },
      { field: 'a.txt', body: Buffer.from('third, same display name') },
    ];
    // `data` after the files: the files are on disk before the message is known.
    const r = await putFiles(base, U1, { to: ['@user2'], message: 'three', _id: 'multi' }, parts, { dataLast: true });
    expect(r.status).toBe(200);
    await u2.received('multi_3');
    const got = ['multi', 'multi_2', 'multi_3'].map((id) => fileMessages(u2).find((f) => f._id === id)!);
    expect(got.map((m) => [m.filename, m.display_filename, m.message])).toEqual([
      ['multi_a.txt', 'a.txt', 'three'],
      ['multi_2_photo_1.jpg', 'photo 1.jpg', 'three'],
      ['multi_3_a.txt', 'a.txt', 'three'],
    ]);
    for (const [i, m] of got.entries()) {
      const res = await request(`${base}/download/${m.filename as string}`, U2);
      expect(res.body.equals(parts[i]!.body)).toBe(true);
    }
    for (const id of ['multi', 'multi_2', 'multi_3']) u2.confirm(id);
  });

  it('the file message is queued: stored, redelivered until confirmed, replayed to an offline recipient; the file goes once every recipient confirmed', async () => {
    const u1 = await connect(U1);
    const u2 = await connect(U2);
    const body = Buffer.from('shared with two');
    // user4 is offline for the whole send.
    const r = await putFiles(base, U1, { to: ['@user2', '@user4'], message: 'two', _id: 'q1' }, [{ field: 'doc.txt', body }]);
    expect(r.status).toBe(200);
    const row = await db('sbfiles').where({ mid: 'q1' }).first();
    expect(row).toMatchObject({ type: 'file', filename: 'q1_doc.txt', display_filename: 'doc.txt', recipients: '|user2|user4|' });
    // Not confirmed: sent again (redelivery_seconds 0.4).
    await u2.received('q1', 2);
    const url = `${base}/download/q1_doc.txt`;
    expect((await request(url, U2)).body.toString()).toBe('shared with two');
    u2.confirm('q1');
    // user2 confirmed, user4 has not: the file stays. user4 connects, gets the message and the file.
    const u4 = await connect(U4);
    await u4.received('q1');
    expect(fileMessages(u4).find((f) => f._id === 'q1')).toMatchObject({ filename: 'q1_doc.txt', sender: 'user1' });
    expect(existsSync(path.join(files, 'q1_doc.txt'))).toBe(true);
    const resumed = await request(url, U4, { headers: { range: 'bytes=7-' } });
    expect([resumed.status, resumed.body.toString()]).toEqual([206, 'with two']);
    // The last confirmation (forwarded to the sender, after the file part ran) removes the file.
    const mark = u1.mark();
    u4.confirm('q1', { confirm: 'user1' });
    await u1.until((c) => c.since(mark).some((f) => f.type === 'confirmation' && f.data === 'q1'), 'the forwarded confirmation');
    expect(existsSync(path.join(files, 'q1_doc.txt'))).toBe(false);
    const gone = await request(url, U4);
    expect([gone.status, gone.body.toString()]).toEqual([404, 'FILE NOT FOUND']);
    // Delivery rows are confirmed; nothing is redelivered afterwards.
    const rows = await db('sbfiles_deliveries').where({ mid: 'q1' }).select('recipient', 'state').orderBy('recipient');
    expect(rows).toEqual([
      { recipient: 'user2', state: 'confirmed' },
      { recipient: 'user4', state: 'confirmed' },
    ]);
  });

  it('max_file_bytes is enforced while streaming: 413 before the body is sent, nothing stored, no partial file', async () => {
    const before = await stored();
    const exact = await putFiles(base, U1, { to: ['@user3'], message: 'exact', _id: 'exact' }, [{ field: 'exact.bin', body: Buffer.alloc(MAX, 3) }]);
    expect(exact.status).toBe(200);
    expect(statSync(path.join(files, 'exact_exact.bin')).size).toBe(MAX);
    const one = await putFiles(base, U1, { to: ['@user3'], message: 'too big', _id: 'big1' }, [{ field: 'ok.txt', body: Buffer.from('small') }, { field: 'big.bin', body: Buffer.alloc(MAX + 1, 4) }]);
    expect([one.status, one.body.toString()]).toEqual([413, `File "big.bin" is larger than max_file_bytes (${MAX} bytes)`]);
    // A 64 MB body: the refusal comes while the client is still sending it.
    const size = 64 * 1024 * 1024;
    const huge = await putFiles(base, U1, { to: ['@user3'], message: 'huge', _id: 'big2' }, [{ field: 'huge.bin', body: generated(size) }], { timeoutMs: 20_000 });
    expect(huge.status).toBe(413);
    expect(huge.written).toBeLessThan(size / 2);
    expect(onDisk().filter((n) => n.startsWith('big') || n.startsWith('.upload-'))).toEqual([]);
    expect(await stored()).toBe(before + 1);
    expect(await db('sbfiles').whereIn('mid', ['big1', 'big2']).count({ n: '*' }).first()).toEqual({ n: 0 });
  });

  it('an upload cut off mid-file leaves nothing behind', async () => {
    const before = await stored();
    const r = await putFiles(base, U1, { to: ['@user3'], message: 'cut', _id: 'cut' }, [{ field: 'cut.bin', body: generated(150_000) }], { abortAfter: 80_000 });
    expect(r.status).toBe(0);
    // The server notices the hang-up and removes its temporary file (state on disk: checked until it holds).
    await eventually(() => !onDisk().some((n) => n.startsWith('.upload-') || n.startsWith('cut')), 'the partial upload removed');
    expect(await stored()).toBe(before);
    // The same `_id` and name go through afterwards.
    expect((await putFiles(base, U1, { to: ['@user3'], message: 'cut', _id: 'cut' }, [{ field: 'cut.bin', body: Buffer.from('whole') }])).status).toBe(200);
    expect(readFileSync(path.join(files, 'cut_cut.bin'), 'utf8')).toBe('whole');
  });

  it('crafted field names and _ids never leave files_path', async () => {
    const parent = readdirSync(dir).sort();
    const u3 = await connect(U3);
    const long = 'x'.repeat(995) + '.pdf';
    const r = await putFiles(base, U1, { to: ['@user3'], message: 'names', _id: '../../etc' }, [
      { field: '../../etc/passwd', body: Buffer.from('p') },
      { field: '/', body: Buffer.from('slash') },
      { field: 'фото отпуск.jpg', body: Buffer.from('photo') },
      { field: long, body: Buffer.from('long') },
      { field: '..\\..\\win.ini', body: Buffer.from('w') },
    ]);
    expect([r.status, r.body.toString()]).toEqual([200, '']);
    await u3.received('../../etc_5');
    const names = ['../../etc', '../../etc_2', '../../etc_3', '../../etc_4', '../../etc_5'].map((id) => fileMessages(u3).find((f) => f._id === id)!);
    expect(names.map((m) => m.display_filename)).toEqual(['../../etc/passwd', '/', 'фото отпуск.jpg', long, '..\\..\\win.ini']);
    const filenames = names.map((m) => m.filename as string);
    expect(filenames.slice(0, 3)).toEqual(['_._.._etc_etc_passwd', '_._.._etc_2_file', '_._.._etc_3_jpg']);
    for (const f of filenames) {
      expect(f).toMatch(/^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/);
      expect(Buffer.byteLength(f)).toBeLessThanOrEqual(220);
      expect(existsSync(path.join(files, f))).toBe(true);
      expect((await request(`${base}/download/${encodeURIComponent(f)}`, U3)).status).toBe(200);
    }
    expect(filenames[3]!.endsWith('.pdf')).toBe(true);
    // Nothing was written beside files_path, nor above it.
    expect(readdirSync(dir).sort()).toEqual(parent);
    expect(existsSync(path.join(dir, '..', 'etc'))).toBe(false);

    // NUL (busboy refuses it in a part header: a malformed body) and names past 1000 characters are refused,
    // after the good file before them was already on disk: nothing of the request is kept.
    const before = onDisk();
    const count = await db('sbfiles').count({ n: '*' }).first();
    for (const field of ['a\u0000b.txt', '\u0000', '../\u0000/x', 'y'.repeat(1001)]) {
      const bad = await putFiles(base, U1, { to: ['@user3'], message: 'bad', _id: 'bad' }, [{ field: 'fine.txt', body: Buffer.alloc(100_000, 1) }, { field, body: Buffer.from('x') }]);
      expect(bad.status, JSON.stringify(field.slice(0, 20))).toBe(400);
      if (field.length > 1000) expect(bad.body.toString()).toBe("a file's form field name (its display name) must be 1-1000 characters without control characters");
      else expect(bad.body.toString()).toBe('a malformed multipart body: Malformed part header');
    }
    expect(await db('sbfiles').count({ n: '*' }).first()).toEqual(count);
    expect(onDisk()).toEqual(before);
  });

  it('refusals: NO FILE, no data, not multipart, a used name, a bus without files_path', async () => {
    const before = onDisk();
    const cases: [Parameters<typeof putFiles>, number, string][] = [
      [[base, U1, { to: ['@user2'], message: 'x' }, [{ field: '', body: Buffer.from('x') }]], 400, 'NO FILE'],
      [[base, U1, { to: ['@user2'], message: 'x' }, []], 400, 'NO FILE'],
      [[base, U1, null, [{ field: 'a.txt', body: Buffer.from('x') }]], 400, 'no "data" field: the message JSON'],
      [[base, U1, '{not json', [{ field: 'a.txt', body: Buffer.from('x') }]], 400, 'the "data" field is not JSON'],
      [[base, U1, { message: 'no to' }, [{ field: 'a.txt', body: Buffer.from('x') }]], 400, '"to" must be a list of at most 1000 addresses ("@user", "#tag", "$all")'],
      [[base, U1, { to: ['@user2'] }, [{ field: 'a.txt', body: Buffer.from('x') }], { type: 'application/json' }], 400, 'Message-Type: file needs a multipart/form-data body'],
      [[base, U1, { to: ['@user2'], _id: 'exact' }, [{ field: 'exact.bin', body: Buffer.from('x') }]], 400, 'a file exact_exact.bin is there already: send this message with another "_id"'],
      [[`${server.http}/nofiles`, U1, { to: ['@user2'] }, [{ field: 'a.txt', body: Buffer.from('x') }]], 401, 'Unauthorized Access'],
    ];
    for (const [args, status, text] of cases) {
      const r = await putFiles(...args);
      expect([r.status, r.body.toString()], text).toEqual([status, text]);
    }
    expect(onDisk()).toEqual(before);
    expect(readFileSync(path.join(files, 'exact_exact.bin')).length).toBe(MAX);
    // The bus without files_path: its own user, then 501.
    const nb = `${server.http}/nofiles`;
    await fetch(`${nb}/signup`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=solo&password=pw', redirect: 'manual' });
    const r = await putFiles(nb, ['solo', 'pw'], { to: ['@solo'] }, [{ field: 'a.txt', body: Buffer.from('x') }]);
    expect([r.status, r.body.toString()]).toEqual([501, 'This bus takes no files: its SimpleBusHandler has no files_path']);
  });

  it('a file routed to nobody keeps no file', async () => {
    const r = await putFiles(base, U1, { to: ['@nobody'], message: 'lost', _id: 'nobody' }, [{ field: 'n.txt', body: Buffer.from('n') }]);
    expect(r.status).toBe(200);
    expect(await db('sbfiles').where({ mid: 'nobody' }).first()).toMatchObject({ filename: 'nobody_n.txt', recipients: '' });
    expect(existsSync(path.join(files, 'nobody_n.txt'))).toBe(false);
  });
});

/** VmRSS of a process, in bytes (Linux). */
function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

const BIG = 100 * 1024 * 1024;

/**
 * The 100 MB round trip: user1 uploads `big.bin` to user2 (streamed), user2's download is cut at 50%, then resumed
 * with `Range: bytes=<got>-` and `If-Range: <etag>`; the bytes put together are the file. `sample` runs every
 * `everyMs` throughout. Returns the upload's and the whole transfer's peak of `sample() - sample()@start`.
 */
async function roundTrip(server: Mounted, sample: () => number, everyMs: number): Promise<{ upload: number; total: number }> {
  const base = `${server.http}/bus`;
  const body = generated(BIG, 7);
  const expected = await digestOf(body);
  const u2 = await BusClient.connect(`${server.ws}/bus/ws`, U2[0], U2[1]);
  await u2.live();
  const base0 = sample();
  let peak = base0;
  const sampler = setInterval(() => (peak = Math.max(peak, sample())), everyMs);
  try {
    const up = await putFiles(base, U1, { to: ['@user2'], message: 'big', _id: 'big' }, [{ field: 'big.bin', body }], { timeoutMs: 120_000 });
    expect([up.status, up.body.toString()]).toEqual([200, '']);
    peak = Math.max(peak, sample());
    const upload = peak - base0;
    await u2.received('big');
    const url = `${base}/download/big_big.bin`;

    // Cut at 50%: the client hangs up after half the bytes.
    const hash = createHash('sha256');
    let got = 0;
    const first = await request(url, U2, {
      timeoutMs: 120_000,
      onData: (c, req) => {
        if (got >= BIG / 2) return;
        const take = c.subarray(0, Math.min(c.length, BIG / 2 - got));
        hash.update(take);
        got += take.length;
        if (got >= BIG / 2) req.destroy();
      },
    });
    expect(first.status).toBe(200);
    expect(got).toBe(BIG / 2);
    const etag = first.headers.etag!;
    // Resume where it stopped, only if the file is still the same one.
    const second = await request(url, U2, {
      timeoutMs: 120_000,
      headers: { range: `bytes=${got}-`, 'if-range': etag },
      onData: (c) => {
        hash.update(c);
        got += c.length;
      },
    });
    expect(second.status).toBe(206);
    expect(second.headers['content-range']).toBe(`bytes ${BIG / 2}-${BIG - 1}/${BIG}`);
    expect(got).toBe(BIG);
    expect(hash.digest('hex')).toBe(expected);
    peak = Math.max(peak, sample());
    return { upload, total: peak - base0 };
  } finally {
    clearInterval(sampler);
    await u2.close();
  }
}

describe.skipIf(process.platform !== 'linux')('a 100 MB file, cut at 50% and resumed, with flat server memory', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('through `msghub serve`: its RSS never grows by the file (Buffers are freed by GC in ~64 MB steps)', async () => {
    const dir = tempDir('msghub-sbf-big-');
    dirs.push(dir);
    const server = await startCli(writeConfig(CONFIG(150 * 1024 * 1024), dir));
    try {
      await createUsers(`${server.http}/bus`);
      const pid = server.child!.pid!;
      const { upload, total } = await roundTrip(server, () => rssOf(pid), 25);
      console.log(`100 MB file via msghub serve: server RSS peak +${(upload / 1e6).toFixed(1)} MB during the upload, +${(total / 1e6).toFixed(1)} MB over upload and download`);
      // Holding the file (or half of it, while the download is cut) would add ≥ 50-100 MB; what shows is
      // garbage V8 has not collected yet (it collects external memory every ~64 MB): seen 40-76 MB for 50-400 MB files.
      expect(total).toBeLessThan(BIG * 0.95);
    } finally {
      await server.close();
    }
  }, 180_000);

  it('in process: retained memory (heap + buffers after a forced GC at each sample) stays far below the file', async () => {
    const dir = tempDir('msghub-sbf-big-');
    dirs.push(dir);
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const server = await mount('http', writeConfig(CONFIG(150 * 1024 * 1024), dir));
    try {
      await createUsers(`${server.http}/bus`);
      const retained = (): number => {
        gc();
        const m = process.memoryUsage();
        return m.heapUsed + m.arrayBuffers;
      };
      const { upload, total } = await roundTrip(server, retained, 200);
      console.log(`100 MB file in process: retained heap + buffers peak +${(upload / 1e6).toFixed(1)} MB during the upload, +${(total / 1e6).toFixed(1)} MB over upload and download`);
      // Client and server share this process: the bytes in flight on both sides count. Seen 1-30 MB; the file
      // held would be 100 MB, half of it (the cut download) 50 MB.
      expect(total).toBeLessThan(BIG * 0.4);
    } finally {
      await server.close();
    }
  }, 180_000);
});
