/**
 * Texto's own client (kureuil/texto `public/texto.js`, TextoMessage and TextoClient) on Node's `ws`, so the suite
 * sends exactly what Texto's browsers send: the same objects serialised the same way (`id`, `client_id`, `kind`,
 * `data`, in that order), the same UUIDv4 generator, the same session logic (the first frame must be `connection`;
 * a frame whose id is pending settles it; any other `receive` is acked at once with its own id, the ack itself
 * being registered as pending, exactly as texto.js does). What is added is for the tests only, and marked:
 * recording every frame and the close, waiting on them, raw frames, not acking (`autoAck: false`), and `register`,
 * msghub's documented way for a client to re-present an earlier client id.
 */
import WebSocket from 'ws';

/** texto.js TextoMessage. */
export class TextoMessage {
  id: string;
  client_id: string | null;
  kind: string;
  data: unknown;

  constructor(clientId: string | null, kind: string, payload: unknown) {
    this.id = TextoMessage._uuid4();
    this.client_id = clientId;
    this.kind = kind;
    this.data = payload;
  }

  static fromJSON(json: string): TextoMessage {
    const obj = JSON.parse(json);
    const msg = new TextoMessage(obj.client_id, obj.kind, obj.data);
    msg.id = obj.id;
    return msg;
  }

  static ErrorKind = 'error';
  static RegistrationKind = 'registration';
  static ConnectionKind = 'connection';
  static SendKind = 'send';
  static ReceiveKind = 'receive';
  static AckKind = 'ack';

  /** texto.js's UUIDv4 generator, as written there. */
  static _uuid4(): string {
    let uuid = '';
    for (let ii = 0; ii < 32; ii += 1) {
      switch (ii) {
        case 8:
        case 20:
          uuid += '-';
          uuid += ((Math.random() * 16) | 0).toString(16);
          break;
        case 12:
          uuid += '-';
          uuid += '4';
          break;
        case 16:
          uuid += '-';
          uuid += ((Math.random() * 4) | 8).toString(16);
          break;
        default:
          uuid += ((Math.random() * 16) | 0).toString(16);
      }
    }
    return uuid;
  }
}

export type Frame = { client_id: string; id: string; kind: string; data: any };

export interface TextoClientOptions {
  /** Test only: false to withhold the acks texto.js sends for every receive. Default true (texto.js). */
  autoAck?: boolean;
  /** Test only: query string to add (e.g. `nogreet=1`). */
  query?: string;
  headers?: Record<string, string>;
}

/** texto.js TextoClient, plus recording for tests. `host` is `127.0.0.1:port` (texto.js: `document.location.host`). */
export class TextoClient {
  _connectResolve: ((c: TextoClient) => void) | null = null;
  _connectReject: ((e: Error) => void) | null = null;
  _host: string;
  _messages = new Map<string, { resolve: (d: unknown) => void; reject: (e: Error) => void; message: TextoMessage }>();
  _sessionId: string | null = null;
  _ws: WebSocket | null = null;
  onreceive: (payload: any) => void = () => null;

  // ── test only ──
  readonly frames: Frame[] = [];
  readonly received: Frame[] = [];
  /** Frames this client sent, as text. */
  readonly sent: string[] = [];
  closeCode: number | null = null;
  /** Whether the server sent a close frame (false: the TCP connection just ended). */
  closeFrame = false;
  closedAt = 0;
  private waiters: (() => void)[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;
  private readonly options: TextoClientOptions;

  constructor(host: string, options: TextoClientOptions = {}) {
    this._host = host;
    this.options = options;
    let opened!: () => void;
    let closed!: () => void;
    this.opened = new Promise((r) => (opened = r));
    this.closed = new Promise((r) => (closed = r));
    this._open = opened;
    this._closed = closed;
  }
  private _open: () => void;
  private _closed: () => void;

  /** texto.js `connect()`: resolves once the greeting named this session. */
  connect(): Promise<TextoClient> {
    this._ws = this.socket();
    this._ws.addEventListener('message', (ev) => this._onMessage(ev as unknown as { data: string }));
    return new Promise((resolve, reject) => {
      this._connectResolve = resolve;
      this._connectReject = reject;
    });
  }

  /** Test only: opens the socket without texto.js's session logic (raw frames, `?nogreet`). */
  static async raw(host: string, options: TextoClientOptions = {}): Promise<TextoClient> {
    const c = new TextoClient(host, options);
    c._ws = c.socket();
    await c.opened;
    return c;
  }

  private socket(): WebSocket {
    const q = this.options.query ? `?${this.options.query}` : '';
    const ws = new WebSocket(`ws://${this._host}/v1/texto${q}`, { headers: this.options.headers });
    ws.on('open', () => this._open());
    ws.on('error', () => undefined);
    ws.on('unexpected-response', (_req, res) => {
      this.closeCode = res.statusCode ?? 0;
      this._connectReject?.(new Error(`HTTP ${res.statusCode}`));
      this._closed();
    });
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame);
      this.wake();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      this.closedAt = Date.now();
      // ws reports 1006 when the TCP connection ended without a close frame.
      this.closeFrame = code !== 1006;
      this._connectReject?.(new Error('closed'));
      this._closed();
      this.wake();
    });
    return ws;
  }

  /** texto.js `sendMessage`. */
  sendMessage(recipientId: string, text: string): Promise<unknown> {
    const message = new TextoMessage(this._sessionId, 'send', { receiver_id: recipientId, text });
    return this._send(message);
  }

  /**
   * msghub's extension, as docs/compat.md § Texto v1 gives it (texto.test.ts runs the doc's own snippet too):
   * re-present an earlier client id with a `registration` carrying it. Resolves with the `connection` data; from
   * then on this client is the id it names.
   */
  async register(clientId: string): Promise<unknown> {
    const data = (await this._send(new TextoMessage(clientId, 'registration', null))) as { client_id: string };
    this._sessionId = data.client_id;
    return data;
  }

  /** texto.js `_send`. */
  _send(message: TextoMessage): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this._messages.set(message.id, { resolve, reject, message });
      const text = JSON.stringify(message);
      this.sent.push(text);
      this._ws!.send(text);
    });
  }

  /** texto.js `_onMessage` (its console.log calls left out). */
  _onMessage(event: { data: string }): void {
    const message = TextoMessage.fromJSON(event.data);
    if (this._sessionId === null) {
      if (message.kind === 'connection') {
        this._sessionId = message.client_id;
        this._connectResolve?.(this);
      } else {
        this._connectReject?.(new Error("Couldn't connect to the Messaging Server"));
      }
      this._connectResolve = null;
      this._connectReject = null;
    } else if (this._messages.has(message.id)) {
      if (message.kind === 'error') {
        this._messages.get(message.id)!.reject(new Error((message.data as { description: string }).description));
      } else {
        this._messages.get(message.id)!.resolve(message.data);
      }
    } else if (message.kind === 'receive') {
      this.received.push({ ...(message as unknown as Frame) });
      if (this.options.autoAck !== false) {
        const ack = new TextoMessage(this._sessionId, 'ack', null);
        ack.id = message.id;
        this._send(ack);
      }
      this.onreceive(message.data);
      this.wake();
    }
  }

  // ── test only ──

  /** Sends a raw frame (text, or an object serialised as is). */
  sendRaw(frame: string | object): void {
    const text = typeof frame === 'string' ? frame : JSON.stringify(frame);
    this.sent.push(text);
    this._ws!.send(text);
  }

  /** Acks a receive by hand (what texto.js does for each receive when `autoAck` is on). */
  ack(receiveId: string): void {
    const ack = new TextoMessage(this._sessionId, 'ack', null);
    ack.id = receiveId;
    this.sendRaw(ack);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Waits until `pred()` holds (checked on every frame and on close); rejects after `ms`. */
  async until(pred: () => boolean, what: string, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(this.frames).slice(0, 1500)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits for a frame matching `pred` and returns it. */
  async next(pred: (f: Frame) => boolean, what: string, ms = 5000): Promise<Frame> {
    await this.until(() => this.frames.some(pred), what, ms);
    return this.frames.find(pred)!;
  }

  get id(): string {
    return this._sessionId!;
  }

  close(): Promise<void> {
    if (this._ws && this._ws.readyState !== WebSocket.CLOSED) this._ws.terminate();
    return this.closed;
  }
}
