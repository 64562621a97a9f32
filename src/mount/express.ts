/**
 * @module mount/express
 * Mount a MessageService in an Express app. Express does not see WebSocket upgrades, so the http.Server that
 * runs the app is needed too:
 *
 *   const server = app.listen(port);
 *   const mount = mountExpress(app, server, service);
 *
 * Requests whose path is not ours fall through to the next middleware; after `dispose()` all do.
 *
 * Body parsers may come before or after: msghub reads the body itself when nothing has, and otherwise takes
 * what `express.json()`, `express.text()` or `express.raw()` kept in `req.body`, under the same limits (see
 * http/body.ts). A body another middleware consumed without keeping it (or parsed as a form) is refused with
 * 400 MH_ERR_HTTP_BODY, never waited on. Mounting before the parsers saves parsing our bodies twice.
 */
import type http from 'node:http';
import type { MessageService } from '../service.js';
import type { Disposable } from '../types.js';
import { mountHttp } from './http.js';

/** The slice of an Express app we use (keeps express an optional peer dependency). */
export interface ExpressLike {
  use(fn: (req: http.IncomingMessage, res: http.ServerResponse, next: (err?: unknown) => void) => void): unknown;
}

export function mountExpress(app: ExpressLike, server: http.Server, service: MessageService): Disposable {
  let active = true;
  app.use((req, res, next) => {
    // Express rewrites req.url inside routers; the original URL is what our url map is written against.
    const original = (req as { originalUrl?: string }).originalUrl;
    const url = req.url;
    if (original) req.url = original;
    if (active && service.handleRequest(req, res)) return;
    req.url = url;
    next();
  });
  const upgrades = mountHttp(server, service);
  return {
    async dispose() {
      active = false;
      await upgrades.dispose();
    },
  };
}
