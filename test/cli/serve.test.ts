/**
 * The standalone server: listening line, flags, and graceful shutdown on SIGTERM / SIGINT with no accepted
 * message lost.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { startCli } from '../support/mounts.js';
import { tempDir, writeConfig } from '../support/tmp.js';
import { TestClient } from '../support/ws-client.js';

const CONFIG = `
listen: {port: 1, host: 127.0.0.1}
url:
  chat:
    pattern: /chat
    handler: MessageHandler
    kwargs:
      url: sqlite:///chat.db
      table: chat
      columns: {body: TEXT}
      limits: {messages_per_second: 0}
`;

describe('msghub serve', () => {
  it('prints one listening line with the actual host and port; --port overrides listen.port', async () => {
    const server = await startCli(writeConfig(CONFIG));
    try {
      expect(server.http).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(server.http).not.toMatch(/:1$/);
      const c = await TestClient.connect(`${server.ws}/chat`);
      await c.close();
    } finally {
      await server.close();
    }
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`on ${signal} commits every accepted message, closes sockets with 1001 and exits 0`, async () => {
      const dir = tempDir();
      const server = await startCli(writeConfig(CONFIG, dir));
      const c = await TestClient.connect(`${server.ws}/chat`);
      const N = 300;
      for (let i = 0; i < N; i++) c.send({ body: `m${i}`, _ref: i });
      // Stop once the server has committed some of them, with the rest still arriving.
      await c.until((f) => f.some((x) => x._ack !== undefined), 'a first ack');
      const exited = new Promise<number | null>((resolve) => server.child!.once('exit', (code) => resolve(code)));
      server.child!.kill(signal);
      expect(await exited).toBe(0);
      await c.waitClose();
      expect(c.closeCode).toBe(1001);
      const acked = new Set(c.frames.filter((f) => f._ack !== undefined).map((f) => f._ref));
      const refused = c.frames.filter((f) => (f._error as { code?: string } | undefined)?.code === 'MH_ERR_SHUTTING_DOWN');
      const db = new Database(path.join(dir, 'chat.db'), { readonly: true });
      const stored = (db.prepare('SELECT body FROM chat').all() as { body: string }[]).map((r) => Number(r.body.slice(1)));
      db.close();
      // Exactly the acknowledged messages are stored; everything else was refused or never reached the server.
      expect(new Set(stored)).toEqual(acked);
      expect(acked.size).toBeGreaterThan(0);
      expect(acked.size + refused.length).toBeLessThanOrEqual(N);
    });
  }
});
