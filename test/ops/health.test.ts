/**
 * /healthz and /readyz over HTTP: ready on a working service; not ready (503, naming what) when its PostgreSQL
 * is stopped (a private instance, really killed), ready again when it is back; not ready once shutting down.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { PrivatePostgres, requireBinaries } from '../support/instances.js';
import { tempDir } from '../support/tmp.js';
import { serve, type Served } from './support.js';

interface Ready {
  ready: boolean;
  checks: { name: string; ok: boolean; detail?: string }[];
}

const config = (url: string, health?: unknown) => ({
  ...(health ? { health } : {}),
  url: {
    chat: { pattern: '/chat', handler: 'MessageHandler', kwargs: { url, table: 'ops_health', columns: { body: 'TEXT' } } },
  },
});

async function get(url: string): Promise<{ status: number; body: unknown; type: string | null }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.json() };
}

describe('health endpoints', () => {
  it('/healthz answers 200; /readyz 200 with every check named; 503 once the service is shutting down', async () => {
    const s = await serve(config('sqlite:///$YAMLPATH/chat.db'), tempDir());
    try {
      expect(await get(`${s.http}/healthz`)).toEqual({ status: 200, type: 'application/json; charset=utf-8', body: { status: 'ok' } });
      const r = await get(`${s.http}/readyz`);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        ready: true,
        checks: [
          { name: 'service', ok: true },
          { name: 'database:chat', ok: true },
          { name: 'bus', ok: true },
        ],
      });
      expect((await fetch(`${s.http}/readyz`, { method: 'POST' })).status).toBe(405);
    } finally {
      await s.close();
    }
    const after = await s.service.readiness();
    expect(after.ready).toBe(false);
    expect(after.checks[0]).toEqual({ name: 'service', ok: false, detail: 'shutting down' });
  });

  it('paths are configurable and can be turned off (health: in gramex.yaml)', async () => {
    const s = await serve(config('sqlite:///$YAMLPATH/chat.db', { healthz: '/live', readyz: false }), tempDir());
    try {
      expect((await get(`${s.http}/live`)).status).toBe(200);
      expect((await fetch(`${s.http}/readyz`)).status).toBe(404);
      expect((await fetch(`${s.http}/healthz`)).status).toBe(404);
    } finally {
      await s.close();
    }
  });

  describe('with PostgreSQL', () => {
    let pg: PrivatePostgres | null = null;
    afterAll(async () => {
      await pg?.destroy();
    }, 30_000);

    it('/readyz is 503 naming the database while it is stopped, and 200 again once it is back', async () => {
      if (!requireBinaries('PostgreSQL', PrivatePostgres.available())) return;
      pg = await PrivatePostgres.create();
      await pg.start();
      const s: Served = await serve(config(pg.url), tempDir());
      try {
        expect((await get(`${s.http}/readyz`)).status).toBe(200);
        await pg.stop();
        const started = Date.now();
        const down = await get(`${s.http}/readyz`);
        expect(down.status).toBe(503);
        const body = down.body as Ready;
        expect(body.ready).toBe(false);
        const db = body.checks.find((c) => c.name === 'database:chat')!;
        expect(db.ok).toBe(false);
        // Says what, never the driver's text (hosts, ports, users).
        expect(db.detail).toMatch(/^(MH_ERR_STORE_UNAVAILABLE|no answer in time)$/);
        expect(body.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['database:chat']);
        // Bounded: a load balancer's probe gets its answer within the readiness timeout (2 s) and some slack.
        expect(Date.now() - started).toBeLessThan(5000);
        expect((await get(`${s.http}/healthz`)).status).toBe(200);
        await pg.start();
        expect((await get(`${s.http}/readyz`)).status).toBe(200);
      } finally {
        await s.close();
      }
    }, 90_000);
  });
});
