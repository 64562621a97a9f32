#!/usr/bin/env node
// msghub inside an existing Fastify app: `node examples/embed-fastify/app.js [--port N]`.
//
// The app keeps what it had: its own routes (/api/hello, /api/echo), Fastify's own JSON body parser and its own
// sign-in (a signed cookie, checked in a preHandler). msghub adds /messages (WebSocket, SSE, HTTP) from
// gramex.yaml as a plugin, and learns who the user is through `authenticate`. The page is the comment widget of
// examples/comments.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { MessageService } from 'msghub';
import { msghubFastify } from 'msghub/fastify';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { port: { type: 'string', default: '3000' }, host: { type: 'string', default: '127.0.0.1' } } });

// ---- The app's own sign-in: a cookie `user=<name>.<HMAC>` (your app has its own: @fastify/session, JWT, …). ----
const SECRET = process.env.APP_SECRET ?? randomBytes(32).toString('hex'); // random: sign-ins end at restart
const NAME = /^[\p{L}\p{N}][\p{L}\p{N} ._-]{0,31}$/u;
const mac = (name) => createHmac('sha256', SECRET).update(name).digest('base64url');

/** The signed-in user of a raw request (a Fastify route's `req.raw`, or a WebSocket handshake), or null. */
function currentUser(raw) {
  const m = /(?:^|;\s*)user=([^;]+)/.exec(raw.headers.cookie ?? '');
  if (!m) return null;
  const value = decodeURIComponent(m[1]);
  const at = value.lastIndexOf('.');
  const name = value.slice(0, at);
  const given = Buffer.from(value.slice(at + 1));
  const expected = Buffer.from(mac(name));
  return at > 0 && given.length === expected.length && timingSafeEqual(given, expected) ? name : null;
}
const userCookie = (value, maxAge) => `user=${encodeURIComponent(value)}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Lax`;

const service = await MessageService.start(path.join(HERE, 'gramex.yaml'), {
  authenticate: (req) => {
    const name = currentUser(req);
    return name === null ? null : { id: name };
  },
});
const app = Fastify({ bodyLimit: 16 * 1024 });
// msghub answers its own paths (/messages) before Fastify parses a body; every other route is the app's.
await app.register(msghubFastify, { service, closeService: true });

app.decorateRequest('user', null);
app.addHook('preHandler', async (req) => {
  req.user = currentUser(req.raw);
});

app.get('/api/hello', async (req) => ({ hello: req.user ?? 'stranger' }));
app.post('/api/echo', async (req) => ({ youSent: req.body }));

app.post('/login', async (req, reply) => {
  // A cross-site form must not sign a visitor in (the cookie is SameSite=Lax too).
  if (req.headers.origin && req.headers.origin !== `http://${req.headers.host}`) return reply.code(403).send({ error: 'cross-site sign-in refused' });
  const name = typeof req.body?.name === 'string' ? req.body.name.trim() : '';
  if (!NAME.test(name)) return reply.code(400).send({ error: 'A name is 1 to 32 letters, digits, spaces, dots, dashes or underscores' });
  reply.header('Set-Cookie', userCookie(`${name}.${mac(name)}`, 7 * 24 * 3600));
  return { user: name };
});
app.post('/logout', async (_req, reply) => {
  reply.header('Set-Cookie', userCookie('', 0));
  return { user: null };
});
app.get('/me', async (req) => ({ user: req.user }));

// ---- The page: the comment widget's files and msghub's browser client, nothing else from those folders. ----
const widget = path.join(HERE, '../comments');
const clientBundle = path.join(path.dirname(createRequire(import.meta.url).resolve('msghub/package.json')), 'dist/client/msghub-client.js');
const files = {
  '/': ['index.html', 'text/html'],
  '/comments.js': ['comments.js', 'text/javascript'],
  '/style.css': ['style.css', 'text/css'],
  '/favicon.svg': ['favicon.svg', 'image/svg+xml'],
};
for (const [route, [file, type]] of Object.entries(files)) {
  app.get(route, async (_req, reply) => reply.type(`${type}; charset=utf-8`).send(await readFile(path.join(widget, file))));
}
app.get('/msghub-client.js', async (_req, reply) => reply.type('text/javascript; charset=utf-8').send(await readFile(clientBundle)));

await app.listen({ port: Number(values.port), host: values.host });
console.log(`embed-fastify example listening on http://${values.host}:${app.server.address().port}/`);

const shutdown = () => void app.close(); // closes msghub too (closeService: true)
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
