#!/usr/bin/env node
// Directed chat between signed-in users: `node examples/chat/server.mjs [config.yaml] [--port N] [--host H]`.
//
// msghub verifies JSON Web Tokens but does not issue them: your identity provider or your app's login does. This
// file is that app: a /login route that signs a token for one of the demo users (no password: a demo) into an
// HttpOnly cookie, which the config's `auth.token.cookie` tells msghub to read. It also counts who has the chat
// open (presence.mjs), so the handler mails only recipients who are away. Everything else is msghub's.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, createReadStream } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MessageService, mountHttp } from 'msghub';
import { track } from './presence.mjs';
import { USERS } from './users.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const COOKIE = 'chat_token';
const TOKEN_SECONDS = 7 * 24 * 3600;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { port: { type: 'string' }, host: { type: 'string' } },
});
const configFile = path.resolve(positionals[0] ?? path.join(HERE, 'gramex.yaml'));

// The signing secret survives restarts (signed-in users stay signed in): $COMMENTS_SECRET, or a random one kept
// in a dotfile beside the config (FileHandler never serves dotfiles).
function loadSecret() {
  if (process.env.CHAT_SECRET) return process.env.CHAT_SECRET;
  const file = path.join(path.dirname(configFile), '.chat-secret');
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
  const m = /(?:^|;\s*)chat_token=([^;]+)/.exec(req.headers.cookie ?? '');
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
    if (!USERS.includes(name)) return json(res, 400, { error: `Sign in as one of ${USERS.join(', ')}` });
    return json(res, 200, { user: name }, { 'Set-Cookie': cookie(issueToken(name), TOKEN_SECONDS) });
  }
  if (pathname === '/logout' && req.method === 'POST') {
    if (!sameOrigin(req)) return json(res, 403, { error: 'cross-site sign-out refused' });
    return json(res, 200, { user: null }, { 'Set-Cookie': cookie('', 0) });
  }
  if (pathname === '/me') return json(res, 200, { user: userOf(req), users: USERS });
  if (pathname === '/msghub-client.js') {
    if (!existsSync(clientBundle)) return json(res, 404, { error: 'msghub client bundle missing: run `npm run build`' });
    res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
    return createReadStream(clientBundle).pipe(res);
  }
  if (service.handleRequest(req, res)) return;
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end('Not found\n');
}

const service = await MessageService.start(configFile, { env: { ...process.env, CHAT_SECRET: secret } });
const server = http.createServer((req, res) => {
  route(req, res).catch((err) => {
    console.error(err);
    if (!res.headersSent) json(res, 500, { error: 'internal error' });
  });
});
// Presence: a user is online while one of their chat sockets is open. Registered before msghub's listener, which
// refuses what it must (a bad token: 401) before the socket counts.
server.on('upgrade', (req, socket) => {
  const user = new URL(req.url, 'http://x').pathname === '/messages' ? userOf(req) : null;
  if (user !== null) track(user, socket);
});
const mount = mountHttp(server, service);
const host = values.host ?? service.listen.host;
await new Promise((resolve) => server.listen(values.port === undefined ? service.listen.port : Number(values.port), host, resolve));
console.log(`chat example listening on http://${host}:${server.address().port}/`);

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
