/**
 * @module compat/simplebus/signup
 * SimpleBus's pages for the first user: `GET /` (an index with a Register link), `GET /signup` (a form with
 * `name` and `password`), `POST /signup` (form-encoded; creates the user, then redirects to the index). A
 * duplicate id redirects back to the form, which says "ID already exists", as SimpleBus's flash message.
 *
 * Difference (on purpose): SimpleBus lets anyone register at any time, without credentials, and every user may
 * then send to `$all` and manage users. Here the page registers the FIRST user only; once a user exists it says
 * so and refuses (403): further users are added by an existing one with `POST put_users`. `/login` and
 * `/profile` are static pages, as in SimpleBus.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MhError } from '../../errors.js';
import { readBody } from './http.js';
import type { SimpleBusRuntime } from './runtime.js';
import { parseUsers } from './users.js';

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res: ServerResponse, status: number, title: string, body: string): void {
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>SimpleBus · ${esc(title)}</title></head><body><nav><a href="./">SimpleBus</a> · <a href="signup">Register</a> · <a href="login">Login</a></nav><main>${body}</main></body></html>`;
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'; form-action 'self'", 'x-frame-options': 'DENY' });
  res.end(html);
}

function redirect(res: ServerResponse, to: string): void {
  res.writeHead(302, { location: to, 'content-length': '0' });
  res.end();
}

const FORM = `<h1>Register</h1><form method="post" action="signup"><label>ID <input name="name" required maxlength="128"></label> <label>Password <input name="password" type="password" required></label> <button type="submit">Register</button></form>`;

export async function serveSignup(bus: SimpleBusRuntime, req: IncomingMessage, res: ServerResponse, path: string, maxBytes: number): Promise<void> {
  const method = req.method ?? 'GET';
  const url = new URL(req.url ?? '/', 'http://x');
  if (path === '' || path === 'login' || path === 'profile') {
    if (method !== 'GET' && method !== 'HEAD') throw new MhError('MH_ERR_HTTP_METHOD', [method]);
    const title = path === '' ? 'SimpleBus' : path === 'login' ? 'Login' : 'Profile';
    return page(res, 200, title, `<h1>${title}</h1>${path === '' ? '<p><a href="signup">Register</a> the first user; add more with POST put_users.</p>' : ''}`);
  }
  if (method === 'GET' || method === 'HEAD') {
    if ((await bus.users.count()) > 0) return page(res, 403, 'Register', '<h1>Register</h1><p>Registration is closed: a user exists. Add users with POST put_users.</p>');
    const error = url.searchParams.get('error') === 'exists' ? '<p role="alert">ID already exists</p>' : '';
    return page(res, 200, 'Register', error + FORM);
  }
  if (method !== 'POST') throw new MhError('MH_ERR_HTTP_METHOD', [method]);
  const form = new URLSearchParams((await readBody(req, maxBytes)).toString('utf8'));
  const [input] = parseUsers([{ _id: form.get('name') ?? '', password: form.get('password') ?? '' }]);
  if ((await bus.users.get(input!.id)) !== null) return redirect(res, 'signup?error=exists');
  if ((await bus.users.count()) > 0) return page(res, 403, 'Register', '<h1>Register</h1><p>Registration is closed: a user exists. Add users with POST put_users.</p>');
  if (!(await bus.users.create(input!))) return redirect(res, 'signup?error=exists');
  return redirect(res, './');
}
