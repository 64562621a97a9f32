// Builds the browser bundle of msghub's client (src/client/index.ts) with esbuild: one minified ES module,
// dist/client/msghub-client.js (the Node entry, dist/client/index.js, and its types come from tsc).
// Run by `npm run build`; test/client/size.test.ts checks the bundle stays <= 5 KB gzipped.
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export async function buildClient(outfile = path.join(root, 'dist/client/msghub-client.js')) {
  await build({
    entryPoints: [path.join(root, 'src/client/index.ts')],
    outfile,
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2020',
    platform: 'browser',
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildClient();
