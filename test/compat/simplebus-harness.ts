/**
 * What real SimpleBus clients send, for the SimpleBus tests: a SimpleUI (Android) client's WebSocket
 * (`connect` with BusID/BusPassword, messages with `uid`, confirmations), and a 1C backend's HTTP calls (Basic
 * auth, `Message-Type`, JSON body), plus an HTTP push receiver (a real local server that can fail on purpose).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';

export type Frame = Record<string, unknown>;

export const UID = 'cfg-7f3a';

export function basic(user: string, password: string): string {
  return 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
}

/** A 1C-style HTTP call: `POST <base>/<path>` with Basic auth and headers. */
export async function post(base: string, path: string, body: unknown, opts: { user?: [string, string]; headers?: Record<string, string> } = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers };
  if (opts.user) headers.authorization = basic(...opts.user);
  const res = await fetch(`${base}/${path}`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body), redirect: 'manual' });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** `POST /put` as 1C sends it. */
export async function put(base: string, user: [string, string], message: unknown, type: string | null = 'queue'): Promise<{ status: number; text: string }> {
  const { status, text } = await post(base, 'put', message, { user, headers: type === null ? {} : { 'message-type': type } });
  return { status, text };
}

/** A SimpleUI client: one WebSocket, every frame recorded; waits on frames, never sleeps. */
export class BusClient {
  readonly frames: Frame[] = [];
  closeCode: number | null = null;
  closeReason = '';
  private waiters: (() => void)[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      this.frames.push(JSON.parse(d.toString()) as Frame);
      for (const w of [...this.waiters]) w();
    });
    ws.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
      for (const w of [...this.waiters]) w();
    });
  }

  /** Opens the socket and sends `connect` (BusID, BusPassword), as the app does on start. */
  static async connect(url: string, user: string, password: string, opts: { uid?: string | null } = {}): Promise<BusClient> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const c = new BusClient(ws);
    const frame: Frame = { type: 'connect', data: user, password };
    if (opts.uid !== null) frame.uid = opts.uid ?? UID;
    c.send(frame);
    return c;
  }

  send(f: unknown): void {
    this.ws.send(typeof f === 'string' ? f : JSON.stringify(f));
  }

  /** SendBus: a message as SimpleUI's `hashMap.put("SendBus", …)` sends it. */
  sendBus(to: string[], message: unknown, extra: Frame = {}): void {
    this.send({ to, message, uid: UID, ...extra });
  }

  confirm(id: unknown, extra: Frame = {}): void {
    this.send({ type: 'confirmation', data: id, uid: UID, ...extra });
  }

  /** Messages received (not pings), in order. */
  messages(): Frame[] {
    return this.frames.filter((f) => f.type !== 'ping');
  }

  until(pred: (c: BusClient) => boolean, what: string, timeoutMs = 5000): Promise<void> {
    if (pred(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!pred(this)) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.frames.filter((f) => f.type !== 'ping')).slice(0, 1500)}`));
      }, timeoutMs);
      this.waiters.push(check);
    });
  }

  /** Waits until `n` frames with this `_id` arrived. */
  received(id: string, n = 1, timeoutMs = 5000): Promise<void> {
    return this.until((c) => c.count(id) >= n, `${n}× _id ${id}`, timeoutMs);
  }

  count(id: string): number {
    return this.frames.filter((f) => f._id === id).length;
  }

  /** Marks the current length; `since(mark)` gives what arrived after. */
  mark(): number {
    return this.frames.length;
  }

  since(mark: number): Frame[] {
    return this.frames.slice(mark).filter((f) => f.type !== 'ping');
  }

  /** A ping arrives, proving the socket is authenticated and live. */
  async live(): Promise<void> {
    const m = this.frames.length;
    await this.until((c) => c.frames.slice(m).some((f) => f.type === 'ping'), 'a ping');
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

/** A 1C-style HTTP receiver for push users: answers `fail` times with 503, then 200; records each request. */
export async function pushReceiver(fail: number): Promise<{ url: string; requests: { path: string; auth: string | undefined; type: string | undefined; body: string; status: number }[]; waitFor(n: number, timeoutMs?: number): Promise<void>; close(): Promise<void> }> {
  const requests: { path: string; auth: string | undefined; type: string | undefined; body: string; status: number }[] = [];
  let wake: (() => void) | null = null;
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const status = requests.length < fail ? 503 : 200;
      requests.push({ path: req.url ?? '', auth: req.headers.authorization, type: req.headers['content-type'], body: Buffer.concat(parts).toString(), status });
      res.writeHead(status);
      res.end();
      wake?.();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    waitFor(n, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`push receiver got ${requests.length} of ${n} requests`)), timeoutMs);
        const check = (): void => {
          if (requests.length >= n) {
            clearTimeout(timer);
            wake = null;
            resolve();
          }
        };
        wake = check;
        check();
      });
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
