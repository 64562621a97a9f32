#!/usr/bin/env node
// msghub inside an existing Express app: `node examples/embed-express/app.js [--port N]`.
//
// The app keeps what it had: its own routes (/api/hello, /api/echo), its own JSON body parser and its own
// sign-in (a signed cookie). msghub adds /messages (WebSocket, SSE, HTTP) from gramex.yaml, and learns who the
// user is from the app through `authenticate`. The page is the comment widget of examples/comments.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import express from 'express';
import { MessageService } from 'msghub';
import { mountExpress } from 'msghub/express';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { port: { type: 'string', default: '3000' }, host: { type: 'string', default: '127.0.0.1' } } });

// ---- The app's own sign-in: a cookie `user=<name>.<HMAC>` (your app has its own: sessions, passport, …). ----
const SECRET = process.env.APP_SECRET ?? randomBytes(32).toString('hex'); // random: sign-ins end at restart
const NAME = /^[\p{L}\p{N}][\p{L}\p{N} ._-]{0,31}$/u;
const mac = (name) => createHmac('sha256', SECRET).update(name).digest('base64url');

/** The signed-in user of a request (Express's or a raw WebSocket handshake's), or null. */
function currentUser(req) {
  const m = /(?:^|;\s*)user=([^;]+)/.exec(req.headers.cookie ?? '');
  if (!m) return null;
  const value = decodeURIComponent(m[1]);
  const at = value.lastIndexOf('.');
  const name = value.slice(0, at);
  const given = Buffer.from(value.slice(at + 1));
  const expected = Buffer.from(mac(name));
  return at > 0 && given.length === expected.length && timingSafeEqual(given, expected) ? name : null;
}

// ---- msghub: its paths only (/messages); everything else stays the app's. Mounted before the body parser,
// so msghub reads its own bodies and express.json() never parses them twice. ----
const service = await MessageService.start(path.join(HERE, 'gramex.yaml'), {
  authenticate: (req) => {
    const name = currentUser(req);
    return name === null ? null : { id: name };
  },
});
const app = express();
app.disable('x-powered-by');
const server = http.createServer(app);
const mount = mountExpress(app, server, service);
app.use(express.json({ limit: '16kb' }));

app.get('/api/hello', (req, res) => void res.json({ hello: currentUser(req) ?? 'stranger' }));
app.post('/api/echo', (req, res) => void res.json({ youSent: req.body }));

app.post('/login', (req, res) => {
  // A cross-site form must not sign a visitor in (the cookie is SameSite=Lax too).
  if (req.headers.origin && req.headers.origin !== `http://${req.headers.host}`) return void res.status(403).json({ error: 'cross-site sign-in refused' });
  const name = typeof req.body?.name === 'string' ? req.body.name.trim() : '';
  if (!NAME.test(name)) return void res.status(400).json({ error: 'A name is 1 to 32 letters, digits, spaces, dots, dashes or underscores' });
  res.cookie('user', `${name}.${mac(name)}`, { httpOnly: true, sameSite: 'lax', path: '/' });
  res.json({ user: name });
});
app.post('/logout', (_req, res) => void res.clearCookie('user', { path: '/' }).json({ user: null }));
app.get('/me', (req, res) => void res.json({ user: currentUser(req) }));

// ---- The page: the comment widget's files and msghub's browser client, nothing else from those folders. ----
const widget = path.join(HERE, '../comments');
const clientBundle = path.join(path.dirname(createRequire(import.meta.url).resolve('msghub/package.json')), 'dist/client/msghub-client.js');
const files = { '/': 'index.html', '/comments.js': 'comments.js', '/style.css': 'style.css', '/favicon.svg': 'favicon.svg' };
for (const [route, file] of Object.entries(files)) app.get(route, (_req, res) => void res.sendFile(path.join(widget, file)));
app.get('/msghub-client.js', (_req, res) => void res.type('text/javascript').sendFile(clientBundle));

app.use((_req, res) => void res.status(404).json({ error: 'not found' }));

await new Promise((resolve) => server.listen(Number(values.port), values.host, resolve));
console.log(`embed-express example listening on http://${values.host}:${server.address().port}/`);

async function shutdown() {
  server.close();
  await service.close();
  await mount.dispose();
  server.closeAllConnections();
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
