/**
 * A test WebSocket client that records every frame and lets a test wait for the frames it expects (event
 * driven, with a bounded timeout), instead of sleeping.
 */
import WebSocket from 'ws';

export type Frame = Record<string, unknown>;

export class TestClient {
  readonly frames: Frame[] = [];
  readonly ws: WebSocket;
  private waiters: { pred: (f: Frame[]) => boolean; resolve: () => void; reject: (e: Error) => void }[] = [];
  closeCode: number | null = null;
  closeReason = '';
  private closed: Promise<void>;

  private constructor(url: string, headers?: Record<string, string>) {
    this.ws = new WebSocket(url, { headers });
    this.ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame);
      this.check();
    });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve();
        this.check();
      });
    });
  }

  /** Connects and resolves once open (rejects on a refused handshake). */
  static async connect(url: string, headers?: Record<string, string>): Promise<TestClient> {
    const c = new TestClient(url, headers);
    await new Promise<void>((resolve, reject) => {
      c.ws.once('open', () => resolve());
      c.ws.once('error', reject);
      c.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    return c;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** Waits until the frames received so far satisfy `pred`. */
  until(pred: (frames: Frame[]) => boolean, what = 'expected frames', timeoutMs = 5000): Promise<Frame[]> {
    if (pred(this.frames)) return Promise.resolve(this.frames);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.frames).slice(0, 2000)}`));
      }, timeoutMs);
      const waiter = {
        pred,
        resolve: () => {
          clearTimeout(timer);
          resolve(this.frames);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Waits for `n` frames in total. */
  count(n: number, timeoutMs?: number): Promise<Frame[]> {
    return this.until((f) => f.length >= n, `${n} frames`, timeoutMs);
  }

  /** Waits for a frame matching `pred` and returns it. */
  async next(pred: (f: Frame) => boolean, what?: string, timeoutMs?: number): Promise<Frame> {
    const frames = await this.until((fs) => fs.some(pred), what, timeoutMs);
    return frames.find(pred)!;
  }

  /** Sends a message with a `_ref` and waits for its ack or error. */
  async request(msg: Frame): Promise<Frame> {
    const ref = `r${Math.random().toString(36).slice(2)}`;
    this.send({ ...msg, _ref: ref });
    return this.next((f) => f._ref === ref, `reply to ${ref}`);
  }

  waitClose(timeoutMs = 5000): Promise<void> {
    return this.until(() => this.closeCode !== null, 'close', timeoutMs).then(() => undefined);
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.closed;
  }

  private check(): void {
    for (const w of [...this.waiters]) {
      if (w.pred(this.frames)) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve();
      } else if (this.closeCode !== null) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.reject(new Error(`socket closed (${this.closeCode} ${this.closeReason}); got ${JSON.stringify(this.frames).slice(0, 1000)}`));
      }
    }
  }
}

/**
 * Connects TestClients to a server chosen later (e.g. in beforeAll) and closes them all at the end.
 * `headers` may be a user name (sent as `x-user`, see headerUser) or a header map.
 */
export function clientPool(base: () => string): {
  connect(path: string, headers?: string | Record<string, string>): Promise<TestClient>;
  closeAll(): Promise<void>;
} {
  const clients: TestClient[] = [];
  return {
    async connect(path, headers) {
      const h = typeof headers === 'string' ? { 'x-user': headers } : headers;
      const c = await TestClient.connect(`${base()}${path}`, h);
      clients.push(c);
      return c;
    },
    async closeAll() {
      await Promise.all(clients.map((c) => c.close()));
    },
  };
}
