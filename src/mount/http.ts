/**
 * @module mount/http
 * Mount a MessageService on a plain `http.Server` (or https). We add one `upgrade` listener that answers only
 * the WebSocket paths of our url map and leaves every other upgrade to the server's other listeners. HTTP
 * routes (FileHandler, HTTP publish/read) are served when the host calls `service.handleRequest(req, res)`
 * from its own request listener (it returns false for paths that are not ours), or by `createServer` below.
 * `dispose()` removes exactly our listener and never closes a server it did not create.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { SERVER_DEFAULTS } from '../config/defaults.js';
import type { MessageService } from '../service.js';
import type { Disposable } from '../types.js';

export function mountHttp(server: http.Server, service: MessageService): Disposable {
  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (service.handleUpgrade(req, socket, head)) return;
    // Not ours. If nobody else listens, answer rather than leave the socket hanging (Node would otherwise
    // destroy it only when there are no upgrade listeners at all).
    if (server.listenerCount('upgrade') === 1) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
  };
  server.on('upgrade', onUpgrade);
  return {
    async dispose() {
      server.off('upgrade', onUpgrade);
    },
  };
}

/**
 * A server that serves only this service (the standalone CLI uses it): our routes, 404 for anything else.
 * Closing the returned Disposable closes the service's handlers, then the server it created.
 */
export function createServer(
  service: MessageService,
  /** Answers first when it returns true (the CLI's health endpoints: ops/http.ts). */
  before?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean,
): { server: http.Server; close(): Promise<void> } {
  const server = http.createServer((req, res) => {
    if (before?.(req, res)) return;
    if (!service.handleRequest(req, res)) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Not found\n');
    }
  });
  const mount = mountHttp(server, service);
  return {
    server,
    async close() {
      // Stop accepting first, so no new socket arrives while handlers drain.
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      await service.close();
      await mount.dispose();
      // Keep-alive connections may still carry a request or two (answered with 503 / a closed stream); close
      // each as soon as it is idle, and any stragglers after a grace period.
      server.closeIdleConnections();
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      const grace = setTimeout(() => server.closeAllConnections(), SERVER_DEFAULTS.shutdown_timeout_ms);
      await stopped;
      clearInterval(sweep);
      clearTimeout(grace);
    },
  };
}
