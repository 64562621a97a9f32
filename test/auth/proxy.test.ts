/**
 * `trust_proxy:` end to end: real servers on 127.0.0.1 (the http mount), requests carrying `X-Forwarded-For`.
 * The client address the gate decides is observed where it matters: per-address WebSocket caps, per-address
 * HTTP rate buckets, and `handler.request.ip` stored into a column by a `prepare` expression. Clients also
 * connect from 127.0.0.2 (still loopback) to be a TCP peer that a list does not trust.
 */
import http from 'node:http';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_FORWARDED_CHARS, MAX_FORWARDED_HOPS, parseTrustProxy } from '../../src/auth/proxy.js';
import { ConfigError } from '../../src/errors.js';
import { compileService } from '../../src/service.js';
import { mount, type Mounted } from '../support/mounts.js';
import { tempDir, writeConfig } from '../support/tmp.js';
import { clientPool } from '../support/ws-client.js';

/** Three handlers: one stores the client address, one caps connections per address, one rates HTTP per address. */
function config(trustProxy: string | null): string {
  return `
${trustProxy === null ? '' : `trust_proxy: ${trustProxy}`}
url:
  ip:
    pattern: /ip
    handler: MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/proxy.db
      table: ip
      columns: {body: TEXT, ip: TEXT}
      prepare: msg.ip = handler.request.ip
      limits: {messages_per_second: 0, max_connections_per_ip: 0}
  capped:
    pattern: /capped
    handler: MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/proxy.db
      table: capped
      columns: {body: TEXT}
      limits: {max_connections_per_ip: 1}
  rated:
    pattern: /rated
    handler: MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/proxy.db
      table: rated
      columns: {body: TEXT}
      # One message, then a refill that takes 1000 s: a second message from the same address is refused.
      limits: {messages_per_second: 0.001, burst: 1}
`;
}

const APPS = { plain: null, loopback: 'loopback', single: '[127.0.0.1]', hops: '2' } as const;
type AppName = keyof typeof APPS;
const apps = {} as Record<AppName, Mounted>;

beforeAll(async () => {
  await Promise.all(
    (Object.keys(APPS) as AppName[]).map(async (name) => {
      apps[name] = await mount('http', writeConfig(config(APPS[name])));
    }),
  );
});
afterAll(async () => {
  await Promise.all(Object.values(apps).map((a) => a?.close()));
});

/** One HTTP request from `localAddress` (default 127.0.0.1), answered with its status and JSON body. */
function request(
  app: AppName,
  pathname: string,
  opts: { method?: string; body?: unknown; headers?: Record<string, string | string[]>; localAddress?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const url = new URL(pathname, apps[app].http);
  const text = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: { ...opts.headers, 'content-type': 'application/json' }, localAddress: opts.localAddress, agent: false }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(data) as Record<string, unknown> }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(text);
  });
}

/** The address `handler.request.ip` showed for one POST (stored by `prepare`, returned with the message). */
async function ipSeen(app: AppName, forwarded?: string | string[], localAddress?: string): Promise<unknown> {
  const headers = forwarded === undefined ? undefined : { 'x-forwarded-for': forwarded };
  const res = await request(app, '/ip', { method: 'POST', body: { body: 'who' }, headers, localAddress });
  expect(res.status).toBe(201);
  return res.body.ip;
}

const xff = (addr: string): Record<string, string> => ({ 'x-forwarded-for': addr });

describe('without trust_proxy', () => {
  const pool = clientPool(() => apps.plain.ws);
  afterAll(() => pool.closeAll());

  it('ignores X-Forwarded-For: handler.request.ip is the TCP peer', async () => {
    expect(await ipSeen('plain')).toBe('127.0.0.1');
    expect(await ipSeen('plain', '203.0.113.7')).toBe('127.0.0.1');
    expect(await ipSeen('plain', '203.0.113.7', '127.0.0.2')).toBe('127.0.0.2');
  });

  it('counts the per-address connection cap on the socket address, whatever the header says', async () => {
    await pool.connect('/capped', xff('203.0.113.1'));
    await expect(pool.connect('/capped', xff('203.0.113.2'))).rejects.toThrow('HTTP 429');
  });

  it('keeps one HTTP rate bucket for the socket address', async () => {
    expect((await request('plain', '/rated', { method: 'POST', body: { body: 'a' }, headers: xff('203.0.113.1') })).status).toBe(201);
    const refused = await request('plain', '/rated', { method: 'POST', body: { body: 'b' }, headers: xff('203.0.113.2') });
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ _error: { code: 'MH_ERR_RATE_LIMITED' } });
  });
});

describe('trust_proxy: loopback', () => {
  const pool = clientPool(() => apps.loopback.ws);
  afterAll(() => pool.closeAll());

  it('gives each forwarded client its own connection cap', async () => {
    await pool.connect('/capped', xff('198.51.100.1'));
    await pool.connect('/capped', xff('198.51.100.2'));
    await expect(pool.connect('/capped', xff('198.51.100.1'))).rejects.toThrow('HTTP 429');
    // The proxy's own address is a third client, with its own place.
    await pool.connect('/capped');
  });

  it('gives each forwarded client its own HTTP rate bucket', async () => {
    const post = (addr: string) => request('loopback', '/rated', { method: 'POST', body: { body: addr }, headers: xff(addr) });
    expect((await post('198.51.100.1')).status).toBe(201);
    expect((await post('198.51.100.2')).status).toBe(201);
    expect((await post('198.51.100.1')).status).toBe(429);
  });

  it('shows expressions the forwarded address, over HTTP and on a WebSocket', async () => {
    expect(await ipSeen('loopback', '198.51.100.3')).toBe('198.51.100.3');
    const ws = await pool.connect('/ip?body=over-ws', xff('198.51.100.4'));
    await ws.request({ body: 'over-ws' });
    const frame = await ws.next((f) => f.body === 'over-ws' && f._method === 'POST', 'the broadcast');
    expect(frame.ip).toBe('198.51.100.4');
  });

  it('believes the chain only back to the first hop it does not trust', async () => {
    // A client at 203.0.113.9 wrote "6.6.6.6"; the trusted proxy appended the address it saw.
    expect(await ipSeen('loopback', '6.6.6.6, 203.0.113.9')).toBe('203.0.113.9');
    // Two trusted proxies (both loopback): the client is what the farther one saw.
    expect(await ipSeen('loopback', '6.6.6.6, 203.0.113.9, 127.0.0.5')).toBe('203.0.113.9');
    // Several headers are one list, in order.
    expect(await ipSeen('loopback', ['6.6.6.6', '203.0.113.10'])).toBe('203.0.113.10');
    expect(await ipSeen('loopback', ['6.6.6.6, 203.0.113.12', '127.0.0.5'])).toBe('203.0.113.12');
  });

  it('writes one address one way', async () => {
    expect(await ipSeen('loopback', '::ffff:203.0.113.11')).toBe('203.0.113.11');
    expect(await ipSeen('loopback', '2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
  });

  it('ignores garbage: the last hop that gave a real address is the client', async () => {
    const garbage = [
      '',
      ' , ,',
      'garbage',
      'unknown',
      '203.0.113.9:8080',
      '[2001:db8::1]',
      '1.2.3.4.5',
      '010.1.1.1',
      '0x7f000001',
      '2130706433',
      'fe80::1%eth0',
      '<script>alert(1)</script>',
      '203.0.113.9, garbage',
      '9'.repeat(60),
      'x'.repeat(12_000),
    ];
    for (const header of garbage) expect([header, await ipSeen('loopback', header)]).toEqual([header, '127.0.0.1']);
    // Garbage the client wrote before an untrusted hop is never even read.
    expect(await ipSeen('loopback', 'garbage, 203.0.113.9')).toBe('203.0.113.9');
  });

  it('reads a bounded number of hops from the end of a long header', async () => {
    // 100 trusted hops: proxy-addr alone would walk them all to "6.6.6.6"; the walk stops after the bound.
    const long = `6.6.6.6, ${'127.0.0.3, '.repeat(100)}127.0.0.2`;
    expect(await ipSeen('loopback', long)).toBe('127.0.0.3');
    // A header cut to its last characters never yields the fragment of an address: here the window starts at
    // "1.2.3.4", the tail of "11.2.3.4".
    const cut = `11.2.3.4,${' '.repeat(MAX_FORWARDED_CHARS - 17)}127.0.0.4`;
    expect(cut.length).toBe(MAX_FORWARDED_CHARS + 1);
    expect(await ipSeen('loopback', cut)).toBe('127.0.0.4');
  });
});

describe('trust_proxy: a list of addresses', () => {
  it('believes the header from a listed proxy only', async () => {
    expect(await ipSeen('single', '203.0.113.20')).toBe('203.0.113.20');
    // 127.0.0.2 is not in the list: it is the client, and its header is a claim, not a fact.
    expect(await ipSeen('single', '203.0.113.20', '127.0.0.2')).toBe('127.0.0.2');
    // A forged hop that looks like the trusted proxy does not extend the chain beyond the real untrusted one.
    expect(await ipSeen('single', '6.6.6.6, 127.0.0.1, 203.0.113.21')).toBe('203.0.113.21');
  });
});

describe('trust_proxy: a number of hops', () => {
  it('takes the address that many hops back', async () => {
    expect(await ipSeen('hops', '6.6.6.6, 198.51.100.7, 203.0.113.30')).toBe('198.51.100.7');
    expect(await ipSeen('hops', '203.0.113.30')).toBe('203.0.113.30');
    expect(await ipSeen('hops', '203.0.113.31', '127.0.0.2')).toBe('203.0.113.31');
  });
});

describe('origins behind a proxy', () => {
  const pool = clientPool(() => apps.loopback.ws);
  afterAll(() => pool.closeAll());

  it('compares the Origin with the Host the proxy passes, never with X-Forwarded-Host', async () => {
    await pool.connect('/ip', { origin: 'https://chat.example.com', host: 'chat.example.com', ...xff('198.51.100.8') });
    const forged = { origin: 'https://evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https', ...xff('198.51.100.8') };
    await expect(pool.connect('/ip', forged)).rejects.toThrow('HTTP 403');
  });
});

describe('trust_proxy: validation', () => {
  /** The issues (path and message) of compiling a config object. */
  async function issuesOf(conf: Record<string, unknown>): Promise<{ path: string; message: string }[]> {
    try {
      await compileService({ config: conf, baseDir: tempDir() });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).issues.map(({ path, message }) => ({ path, message }));
    }
    return [];
  }

  it('accepts false, a number of hops, names, addresses and ranges', async () => {
    for (const value of [false, 'false', null, 0, 1, '2', 'loopback', 'loopback, 10.0.0.0/8', ['uniquelocal', '192.0.2.1', '2001:db8::/32', '10.0.0.0/255.0.0.0']]) {
      expect([value, await issuesOf({ trust_proxy: value })]).toEqual([value, []]);
    }
  });

  it('names the YAML path of every bad entry', async () => {
    expect(await issuesOf({ trust_proxy: ['loopback', '10.0.0.0/33', 'nope', 7, '', '10'] })).toEqual([
      { path: 'trust_proxy[1]', message: expect.stringContaining('invalid range') },
      { path: 'trust_proxy[2]', message: expect.stringContaining('"nope" is not an IP address') },
      { path: 'trust_proxy[3]', message: expect.stringContaining('7 is not a proxy address') },
      { path: 'trust_proxy[4]', message: expect.stringContaining('"" is not a proxy address') },
      { path: 'trust_proxy[5]', message: expect.stringContaining('"10" is not an IP address') },
    ]);
  });

  it('refuses true, numbers out of range, an empty list and other shapes at trust_proxy', async () => {
    expect(await issuesOf({ trust_proxy: true })).toEqual([{ path: 'trust_proxy', message: expect.stringContaining('any client could choose its own address') }]);
    for (const value of [-1, 1.5, MAX_FORWARDED_HOPS + 1, [], { hops: 1 }, 'loopback, bogus']) {
      const issues = await issuesOf({ trust_proxy: value });
      expect([value, issues.map((i) => i.path)]).toEqual([value, ['trust_proxy']]);
    }
  });

  it('is reported with the other problems, and only in the root config', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'sub.yaml'), 'trust_proxy: loopback\n');
    const root = writeConfig('import: sub.yaml\ntrust_proxy: [nope]\nlisten: {port: 0}\n', dir);
    try {
      await compileService(root);
      expect.unreachable('the config is invalid');
    } catch (err) {
      const issues = (err as ConfigError).issues.map((i) => [path.basename(i.file ?? ''), i.path]);
      expect(issues).toEqual(
        expect.arrayContaining([
          ['gramex.yaml', 'listen.port'],
          ['sub.yaml', 'trust_proxy'],
          ['gramex.yaml', 'trust_proxy[0]'],
        ]),
      );
    }
  });

  it('trusts nobody when off', () => {
    const ctx = { path: 'trust_proxy', file: '/app/gramex.yaml' };
    expect(parseTrustProxy(undefined, ctx)).toEqual({ trust: null, issues: [] });
    expect(parseTrustProxy(false, ctx)).toEqual({ trust: null, issues: [] });
    expect(parseTrustProxy(0, ctx)).toEqual({ trust: null, issues: [] });
  });
});
