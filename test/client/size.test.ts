/**
 * The browser build of the client (scripts/build-client.mjs, the one `npm run build` runs): one minified ES module
 * with no imports, at most 5 KB (5120 bytes) gzipped.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../support/tmp.js';

describe('client bundle', () => {
  it('is a self-contained ES module of at most 5 KB min+gzip', async () => {
    // @ts-expect-error: a plain .mjs build script, without type declarations
    const { buildClient } = (await import('../../scripts/build-client.mjs')) as { buildClient(out: string): Promise<string> };
    const out = await buildClient(path.join(tempDir('msghub-client-'), 'msghub-client.js'));
    const code = readFileSync(out);
    const gz = gzipSync(code, { level: 9 }).length;
    console.log(`client bundle: ${code.length} bytes minified, ${gz} bytes gzipped`);
    expect(gz).toBeLessThanOrEqual(5120);
    // No dependencies: nothing imported, and `connect` exported.
    expect(code.toString()).not.toMatch(/\bimport\s*[\w{*"']/);
    expect(code.toString()).toMatch(/export\s*\{[^}]*\bconnect\b/);
  });
});
