#!/usr/bin/env node
// The live comment widget with sign-in: `node examples/comments/server.mjs [config.yaml] [--port N] [--host H]`.
//
// msghub verifies JSON Web Tokens but does not issue them: your identity provider or your app's login does. This
// file is that app: a tiny /login route that signs a token for the name typed in the page (a demo: no password)
// and puts it in an HttpOnly cookie, which the config's `auth.token.cookie` tells msghub to read. Everything else
// (the page, the WebSocket, history, ownership) is msghub's, from gramex.yaml.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, createReadStream } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MessageService, mountHttp } from 'msghub';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const COOKIE = 'comments_token';
const TOKEN_SECONDS = 7 * 24 * 3600;
/** 1 to 32 letters, digits, spaces, dots, dashes or underscores, starting with a letter or digit. */
const NAME = /^[\p{L}\p{N}][\p{L}\p{N} ._-]{0,31}$/u;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { port: { type: 'string' }, host: { type: 'string' } },
});
const configFile = path.resolve(positionals[0] ?? path.join(HERE, 'gramex.yaml'));

// The signing secret survives restarts (signed-in users stay signed in): $COMMENTS_SECRET, or a random one kept
// in a dotfile beside the config (FileHandler never serves dotfiles).
function loadSecret() {
  if (process.env.COMMENTS_SECRET) return process.env.COMMENTS_SECRET;
  const file = path.join(path.dirname(configFile), '.comments-secret');
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
  return readFileSync(file, 'utf8').trim();
}
const secret = loadSecret();

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
const sign = (data) => createHmac('sha256', secret).update(data).digest('base64url');

/** An HS256 JWT for `name`, the kind `auth.jwt.secret` verifies (the user id is the `sub` claim). */
function issueToken(name) {
  const now = Math.floor(Date.now() / 1000);
  const data = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: name, iat: now, exp: now + TOKEN_SECONDS })}`;
  return `${data}.${sign(data)}`;
}

/** The name in a valid token from our cookie, or null. (msghub checks the same token on its own routes.) */
function userOf(req) {
  const m = /(?:^|;\s*)comments_token=([^;]+)/.exec(req.headers.cookie ?? '');
  const [header, payload, mac] = m ? m[1].split('.') : [];
  if (!mac) return null;
  const expected = Buffer.from(sign(`${header}.${payload}`));
  if (expected.length !== mac.length || !timingSafeEqual(expected, Buffer.from(mac))) return null;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    return claims.exp > Date.now() / 1000 && typeof claims.sub === 'string' ? claims.sub : null;
  } catch {
    return null;
  }
}

function json(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

/** Reads a small JSON body (`{"name": "…"}`); anything else is null. */
function readJson(req) {
  return new Promise((resolve) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      text += chunk;
      if (text.length > 1024) req.destroy();
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(text));
      } catch {
        resolve(null);
      }
    });
    req.on('error', () => resolve(null));
  });
}

/** A sign-in must come from our own page: a cross-site form cannot sign a visitor in as someone else. */
const sameOrigin = (req) => !req.headers.origin || req.headers.origin === `http://${req.headers.host}`;

function cookie(value, maxAge) {
  return `${COOKIE}=${value}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Lax`;
}

// The browser bundle of msghub's client, wherever msghub is installed (this repository, or node_modules).
const clientBundle = path.join(path.dirname(createRequire(import.meta.url).resolve('msghub/package.json')), 'dist/client/msghub-client.js');

async function route(req, res) {
  const { pathname } = new URL(req.url, 'http://x');
  if (pathname === '/login' && req.method === 'POST') {
    if (!sameOrigin(req)) return json(res, 403, { error: 'cross-site sign-in refused' });
    const body = await readJson(req);
    const name = typeof body?.name === 'string' ? body.name.trim() : '';
    if (!NAME.test(name)) return json(res, 400, { error: 'A name is 1 to 32 letters, digits, spaces, dots, dashes or underscores' });
    return json(res, 200, { user: name }, { 'Set-Cookie': cookie(issueToken(name), TOKEN_SECONDS) });
  }
  if (pathname === '/logout' && req.method === 'POST') {
    if (!sameOrigin(req)) return json(res, 403, { error: 'cross-site sign-out refused' });
    return json(res, 200, { user: null }, { 'Set-Cookie': cookie('', 0) });
  }
  if (pathname === '/me') return json(res, 200, { user: userOf(req) });
  if (pathname === '/msghub-client.js') {
    if (!existsSync(clientBundle)) return json(res, 404, { error: 'msghub client bundle missing: run `npm run build`' });
    res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
    return createReadStream(clientBundle).pipe(res);
  }
  if (service.handleRequest(req, res)) return;
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end('Not found\n');
}

const service = await MessageService.start(configFile, { env: { ...process.env, COMMENTS_SECRET: secret } });
const server = http.createServer((req, res) => {
  route(req, res).catch((err) => {
    console.error(err);
    if (!res.headersSent) json(res, 500, { error: 'internal error' });
  });
});
const mount = mountHttp(server, service);
const host = values.host ?? service.listen.host;
await new Promise((resolve) => server.listen(values.port === undefined ? service.listen.port : Number(values.port), host, resolve));
console.log(`comments example listening on http://${host}:${server.address().port}/`);

let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  server.close();
  await service.close();
  await mount.dispose();
  server.closeAllConnections();
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
