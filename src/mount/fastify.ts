/**
 * @module mount/fastify
 * Mount a MessageService in Fastify as a plugin:
 *
 *   await app.register(msghubFastify, { service });
 *
 * Our paths are answered in an `onRequest` hook (the reply is hijacked, so Fastify sends nothing else); other
 * paths continue to Fastify's routes. Fastify parses bodies only after `onRequest`, so its content-type
 * parsers never see (or consume) the bodies of our paths: msghub reads them from the raw request. WebSocket upgrades are taken from `app.server`. On `app.close()` our
 * listener is removed and the service is closed only if `closeService` is true (default: the caller owns it).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type http from 'node:http';
import type { MessageService } from '../service.js';
import { mountHttp } from './http.js';

/** The slice of a Fastify instance we use (keeps fastify an optional peer dependency). */
export interface FastifyLike {
  server: http.Server;
  addHook(
    name: 'onRequest',
    fn: (req: { raw: IncomingMessage }, reply: { raw: ServerResponse; hijack(): void }, done: (err?: Error) => void) => void,
  ): unknown;
  addHook(name: 'onClose', fn: (instance: unknown, done: (err?: Error) => void) => void): unknown;
}

export interface MsghubFastifyOptions {
  service: MessageService;
  closeService?: boolean;
}

async function plugin(app: FastifyLike, opts: MsghubFastifyOptions): Promise<void> {
  const { service } = opts;
  const upgrades = mountHttp(app.server, service);
  app.addHook('onRequest', (req, reply, done) => {
    if (service.owns((req.raw.url ?? '/').split('?')[0]!)) {
      reply.hijack();
      service.handleRequest(req.raw, reply.raw);
      return;
    }
    done();
  });
  app.addHook('onClose', (_instance, done) => {
    upgrades
      .dispose()
      .then(() => (opts.closeService ? service.close() : undefined))
      .then(() => done(), done);
  });
}

// Like fastify-plugin: skip encapsulation so the hooks apply to the whole app.
(plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
(plugin as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] = 'msghub';

export const msghubFastify = plugin;
export default plugin;
