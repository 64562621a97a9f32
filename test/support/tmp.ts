/** Temporary folders and config files for tests (removed by the OS tmp cleaner; each test gets its own). */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function tempDir(prefix = 'msghub-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Writes `gramex.yaml` with `text` into a new temp folder and returns its path. */
export function writeConfig(text: string, dir = tempDir()): string {
  const file = path.join(dir, 'gramex.yaml');
  writeFileSync(file, text);
  return file;
}

/** Whether a TCP port answers, for tests that need a database service. */
export async function reachable(port: number, host = '127.0.0.1'): Promise<boolean> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** For tests that need a service: true to run; false (with a clear message) to skip; throws in CI. */
export async function requireService(name: string, port: number): Promise<boolean> {
  if (await reachable(port)) return true;
  const message = `${name} is not reachable on 127.0.0.1:${port}`;
  if (process.env.MSGHUB_REQUIRE_SERVICES === '1') throw new Error(`${message} (MSGHUB_REQUIRE_SERVICES=1)`);
  console.warn(`SKIPPED: ${message}; start it to run these tests`);
  return false;
}
