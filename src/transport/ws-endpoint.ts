/**
 * @module transport/ws-endpoint
 * Accepts WebSocket upgrades for one MessageHandler and wires each socket to it: frames in, pre-framed
 * broadcasts out, keep-alive pings, and cleanup on close. `noServer` mode: the mount decides which upgrade
 * requests are ours; we never listen on a port ourselves.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ConnectionInfo, MessageHandler } from '../core/handler.js';
import type { Logger } from '../log.js';
import { WsSocket, flushWsSockets, type WsSocketOptions } from './ws.js';

/**
 * What the endpoint hands each client frame to, and tells when the socket closes: the core's Session for msghub's
 * protocol; an adapter may give its own (e.g. one that answers a protocol's greeting before it attaches).
 */
export interface WsConnection {
  receive(text: string, bytes: number): void;
  close(): void;
}

/** Makes the connection for an accepted socket (its Sink). */
export type OpenConnection = (sink: WsSocket) => WsConnection;

export interface WsEndpointOptions {
  maxMessageBytes: number;
  maxBufferedBytes: number;
  pingIntervalMs: number;
}

/**
 * What one socket's listeners need. The listeners themselves are shared functions (an EventEmitter calls a
 * listener with the emitter as `this`), so an idle connection costs this one object instead of a closure and
 * a scope per event: with 20,000 idle sockets that is the difference the memory budget is made of.
 */
class SocketState {
  alive = true;
  session!: WsConnection;
  private released = false;

  /** @internal (with `ws` below: the shipped .d.ts never name `ws`'s types, a devDependency there) */
  constructor(
    readonly endpoint: WsEndpoint,
    /** @internal */
    readonly ws: WebSocket,
    readonly socket: WsSocket,
    /** Frees the connection's place under the handler's limits: exactly once, however the socket ends. */
    private readonly release: () => void,
  ) {}

  releaseOnce(): void {
    if (this.released) return;
    this.released = true;
    this.release();
  }
}

const STATE = Symbol('msghub.ws-state');
type Tracked = WebSocket & { [STATE]: SocketState };
const stateOf = (ws: WebSocket): SocketState => (ws as Tracked)[STATE];

function onPong(this: WebSocket): void {
  stateOf(this).alive = true;
}

function onMessage(this: WebSocket, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
  const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
  void isBinary; // binary frames carrying JSON are accepted, as in Gramex
  stateOf(this).session.receive(buf.toString('utf8'), buf.length);
}

function onError(this: WebSocket, err: Error): void {
  const st = stateOf(this);
  st.endpoint.socketError(err, st.socket.peer);
}

function onClose(this: WebSocket): void {
  const st = stateOf(this);
  st.releaseOnce();
  st.endpoint.closed(st);
}

export class WsEndpoint {
  private readonly wss: WebSocketServer;
  /** Open sockets (ws's own client tracking is off: it would add a second 'close' listener per socket). */
  private readonly sockets = new Set<SocketState>();
  private readonly pinger: NodeJS.Timeout;
  /** Every socket's options: one object for the endpoint (the limit, and the handler's counters for metrics). */
  private readonly socketOptions: WsSocketOptions;
  /** Set-Cookie headers to add to the 101 response of a handshake (new anonymous sessions). */
  private readonly cookies = new WeakMap<IncomingMessage, string>();

  constructor(
    private readonly handler: MessageHandler,
    options: WsEndpointOptions,
    private readonly log: Logger,
  ) {
    this.socketOptions = { maxBufferedBytes: options.maxBufferedBytes, stats: handler.stats };
    // perMessageDeflate off: pre-framed broadcasts must go out byte-identical to every subscriber.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes, perMessageDeflate: false, clientTracking: false });
    this.wss.on('headers', (headers, req) => {
      const cookie = this.cookies.get(req);
      if (cookie) headers.push(`Set-Cookie: ${cookie}`);
    });
    // A committed batch's frames are written in the turn it is published (see Hub.onBatch).
    handler.hub.onBatch(flushWsSockets);
    this.pinger = setInterval(() => this.ping(), options.pingIntervalMs);
    this.pinger.unref();
  }

  /**
   * Completes the handshake and starts the connection. `release` runs exactly once when the connection ends
   * (it frees the connection's place under the handler's limits). `open` makes the connection (default: the
   * handler's msghub-protocol session, `MessageHandler.attach`).
   */
  upgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    info: ConnectionInfo,
    setCookie: string | null,
    release: () => void,
    open?: OpenConnection,
  ): void {
    if (setCookie) this.cookies.set(req, setCookie);
    // A handshake that fails (bad Sec-WebSocket-Key, client gone) never reaches accept().
    const handshakeClosed = (): void => release();
    socket.once('close', handshakeClosed);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      // From here on the WebSocket's own close event releases.
      socket.removeListener('close', handshakeClosed);
      this.accept(ws, info, release, open);
    });
  }

  private accept(ws: WebSocket, info: ConnectionInfo, release: () => void, open: OpenConnection | undefined): void {
    const st = new SocketState(this, ws, new WsSocket(ws, this.socketOptions), release);
    (ws as Tracked)[STATE] = st;
    this.sockets.add(st);
    // The core takes it from here: history, live events, early frames, every reply.
    try {
      st.session = open ? open(st.socket) : this.handler.attach(st.socket, info);
    } catch (err) {
      // An adapter's bug must not reach the upgrade's caller: this socket alone ends.
      this.log('error', `url:${this.handler.name}: opening a connection failed`, err);
      st.session = { receive: () => {}, close: () => {} };
      ws.close(1011, 'internal error');
    }
    ws.on('pong', onPong);
    ws.on('message', onMessage);
    ws.on('error', onError);
    ws.on('close', onClose);
  }

  /** Open WebSockets (for metrics and status). */
  get size(): number {
    return this.sockets.size;
  }

  socketError(err: Error, peer = ''): void {
    this.log('warn', `url:${this.handler.name}: socket error`, err, { conn: peer });
  }

  closed(st: SocketState): void {
    this.sockets.delete(st);
    st.session.close();
  }

  private ping(): void {
    for (const st of this.sockets) {
      if (!st.alive) {
        st.ws.terminate();
        continue;
      }
      st.alive = false;
      st.ws.ping();
    }
  }

  /** Stops pinging and terminates any socket the handler did not close. */
  close(): void {
    clearInterval(this.pinger);
    for (const st of this.sockets) st.ws.terminate();
    this.wss.close();
  }
}
