import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Real `IncomingMessage` objects: a tiny server on 127.0.0.1:0 hands each request it receives to the test. */
export interface RequestFactory {
  /** Sends a GET with these headers and resolves with the server's view of it. */
  request(headers?: Record<string, string | null>, path?: string): Promise<IncomingMessage>;
  close(): Promise<void>;
}

export async function startRequests(): Promise<RequestFactory> {
  const waiting = new Map<string, (req: IncomingMessage) => void>();
  let next = 0;
  const server = http.createServer((req, res) => {
    waiting.get(String(req.headers['x-test-id']))?.(req);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    request(headers = {}, path = '/') {
      const id = String(++next);
      const sent: OutgoingHttpHeaders = { 'x-test-id': id };
      for (const [k, v] of Object.entries(headers)) if (v !== null) sent[k] = v;
      return new Promise((resolve, reject) => {
        waiting.set(id, (req) => {
          waiting.delete(id);
          resolve(req);
        });
        const client = http.request({ host: '127.0.0.1', port, path, headers: sent, agent: false }, (res) => {
          res.resume();
          // Answered without reaching our handler (e.g. a 400 from Node's parser): fail now rather than time out.
          if (waiting.delete(id)) reject(new Error(`request never reached the handler: HTTP ${res.statusCode}`));
        });
        client.on('error', reject);
        client.end();
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
