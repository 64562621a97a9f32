// What the comments and chat examples share: the app around msghub. `node <example>/server.mjs [config.yaml]
// [--port N] [--host H]` calls `runDemo` with what differs (its cookie, who may sign in, what /me says).
//
// msghub verifies JSON Web Tokens but does not issue them: your identity provider or your app's login does. This
// is that app: a /login route that signs a token for a name (a demo: no password) into an HttpOnly cookie, which
// the config's `auth.token.cookie` tells msghub to read; /logout and /me; the browser bundle of msghub's client.
// Every other path is msghub's (the page, the WebSocket, history, ownership), from the example's gramex.yaml.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { MessageService, mountHttp } from 'msghub';

const TOKEN_SECONDS = 7 * 24 * 3600;

/**
 * Starts the example: msghub from `<here>/gramex.yaml` (or the config named on the command line) inside an
 * http.Server with the sign-in routes. Resolves once it listens; SIGINT and SIGTERM shut it down cleanly.
 *
 * - `name`: what the "listening" line calls it.
 * - `cookie`: the token cookie's name (the example's gramex.yaml reads the same name).
 * - `secretEnv`: the variable the config's `auth.jwt.secret` names. The secret survives restarts (signed-in users
 *   stay signed in): that variable, or a random one kept in `.<cookie>-secret` beside the config (FileHandler
 *   never serves dotfiles).
 * - `refuseName(name)`: why `name` may not sign in (a message), or null.
 * - `me(user)`: extra fields of the /me answer.
 * - `onUpgrade(req, socket, user)`: sees each WebSocket handshake before msghub does (which refuses a bad token).
 */
export async function runDemo({ name, here, cookie, secretEnv, refuseName, me = () => ({}), onUpgrade }) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { port: { type: 'string' }, host: { type: 'string' } },
  });
  const configFile = path.resolve(positionals[0] ?? path.join(here, 'gramex.yaml'));
  const secret = loadSecret(process.env[secretEnv], path.join(path.dirname(configFile), `.${cookie.replace(/_token$/, '')}-secret`));
  const tokens = tokenCookie(cookie, secret);

  // The browser bundle of msghub's client, wherever msghub is installed (this repository, or node_modules).
  const clientBundle = path.join(path.dirname(createRequire(import.meta.url).resolve('msghub/package.json')), 'dist/client/msghub-client.js');

  async function route(req, res) {
    const { pathname } = new URL(req.url, 'http://x');
    if (pathname === '/login' && req.method === 'POST') {
      if (!sameOrigin(req)) return json(res, 403, { error: 'cross-site sign-in refused' });
      const body = await readJson(req);
      const user = typeof body?.name === 'string' ? body.name.trim() : '';
      const refused = refuseName(user);
      if (refused) return json(res, 400, { error: refused });
      return json(res, 200, { user }, { 'Set-Cookie': tokens.set(user) });
    }
    if (pathname === '/logout' && req.method === 'POST') {
      if (!sameOrigin(req)) return json(res, 403, { error: 'cross-site sign-out refused' });
      return json(res, 200, { user: null }, { 'Set-Cookie': tokens.clear() });
    }
    if (pathname === '/me') {
      const user = tokens.userOf(req);
      return json(res, 200, { user, ...me(user) });
    }
    if (pathname === '/msghub-client.js') {
      if (!existsSync(clientBundle)) return json(res, 404, { error: 'msghub client bundle missing: run `npm run build`' });
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
      return createReadStream(clientBundle).pipe(res);
    }
    if (service.handleRequest(req, res)) return;
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('Not found\n');
  }

  const service = await MessageService.start(configFile, { env: { ...process.env, [secretEnv]: secret } });
  const server = http.createServer((req, res) => {
    route(req, res).catch((err) => {
      console.error(err);
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
    });
  });
  // Registered before msghub's own upgrade listener, so it sees every handshake first.
  if (onUpgrade) server.on('upgrade', (req, socket) => onUpgrade(req, socket, tokens.userOf(req)));
  const mount = mountHttp(server, service);
  const host = values.host ?? service.listen.host;
  await new Promise((resolve) => server.listen(values.port === undefined ? service.listen.port : Number(values.port), host, resolve));
  console.log(`${name} example listening on http://${host}:${server.address().port}/`);

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
}

function loadSecret(fromEnv, file) {
  if (fromEnv) return fromEnv;
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
  return readFileSync(file, 'utf8').trim();
}

/** HS256 tokens in an HttpOnly cookie named `name`: what `auth.jwt.secret` verifies (the user id is `sub`). */
function tokenCookie(name, secret) {
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const sign = (data) => createHmac('sha256', secret).update(data).digest('base64url');
  const cookie = (value, maxAge) => `${name}=${value}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Lax`;
  const pattern = new RegExp(`(?:^|;\\s*)${name}=([^;]+)`);
  return {
    set(user) {
      const now = Math.floor(Date.now() / 1000);
      const data = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: user, iat: now, exp: now + TOKEN_SECONDS })}`;
      return cookie(`${data}.${sign(data)}`, TOKEN_SECONDS);
    },
    clear: () => cookie('', 0),
    /** The name in a valid token from the cookie, or null. (msghub checks the same token on its own routes.) */
    userOf(req) {
      const m = pattern.exec(req.headers.cookie ?? '');
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
    },
  };
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
