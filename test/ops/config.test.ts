/** The `metrics:` and `health:` sections, validated with every other problem by `compileService` (`msghub check`). */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { compileService } from '../../src/service.js';
import { tempDir } from '../support/tmp.js';

const url = { chat: { pattern: '/chat', handler: 'MessageHandler', kwargs: { url: 'sqlite:///$YAMLPATH/c.db', table: 'ops_cfg', columns: { body: 'TEXT' } } } };

async function issues(extra: Record<string, unknown>): Promise<string[]> {
  try {
    await compileService({ config: { ...extra, url }, baseDir: tempDir() }, { log: () => {} });
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

describe('metrics: and health:', () => {
  it('defaults: no metrics endpoint, health on /healthz and /readyz', async () => {
    const c = await compileService({ config: { url }, baseDir: tempDir() }, { log: () => {} });
    expect(c.ops).toEqual({ metrics: null, health: { healthz: '/healthz', readyz: '/readyz' } });
  });

  it('accepts a port of their own, or a token on the public port', async () => {
    const c = await compileService({ config: { url, metrics: { port: '9464', path: '/m' }, health: { readyz: false } }, baseDir: tempDir() }, { log: () => {} });
    expect(c.ops.metrics).toEqual({ port: 9464, host: '127.0.0.1', path: '/m', statusPath: '/status', token: null, processMetrics: true });
    expect(c.ops.health).toEqual({ healthz: '/healthz', readyz: null });
    expect(await issues({ metrics: { token: 'x'.repeat(16) } })).toEqual([]);
  });

  it('refuses metrics on the public port without a token, and every bad key, each at its path', async () => {
    expect(await issues({ metrics: {} })).toEqual([expect.stringMatching(/^metrics: metrics need a port of their own/)]);
    expect(await issues({ metrics: { port: 70000, token: 'short', path: 'nope', colour: 1 }, health: { healthz: 3, readyz: '/healthz', extra: true } })).toEqual([
      'health.extra: unknown key; allowed: healthz, readyz',
      'health.healthz: must be a path such as /healthz, or false to turn it off',
      // healthz keeps its default when its value is refused: readyz may not take it.
      'health.readyz: healthz and readyz must be different paths',
      'metrics.colour: unknown key; allowed: port, host, path, status_path, token, process',
      'metrics.port: port must be an integer from 0 to 65535',
      'metrics.path: must be a path such as /metrics',
      'metrics.token: token must be 16 to 4096 printable ASCII characters without spaces',
    ]);
  });
});
