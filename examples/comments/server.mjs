#!/usr/bin/env node
// The live comment widget with sign-in: `node examples/comments/server.mjs [config.yaml] [--port N] [--host H]`.
//
// Anyone signs in with a name they type (a demo: no password); ../shared/demo-server.mjs is the app around msghub
// that issues the token. Everything else (the page, the WebSocket, history, ownership) is msghub's, from
// gramex.yaml.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runDemo } from '../shared/demo-server.mjs';

/** 1 to 32 letters, digits, spaces, dots, dashes or underscores, starting with a letter or digit. */
const NAME = /^[\p{L}\p{N}][\p{L}\p{N} ._-]{0,31}$/u;

await runDemo({
  name: 'comments',
  here: path.dirname(fileURLToPath(import.meta.url)),
  cookie: 'comments_token',
  secretEnv: 'COMMENTS_SECRET',
  refuseName: (name) => (NAME.test(name) ? null : 'A name is 1 to 32 letters, digits, spaces, dots, dashes or underscores'),
});
