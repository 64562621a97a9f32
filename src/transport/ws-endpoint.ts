/**
 * @module transport/ws-endpoint
 * Accepts WebSocket upgrades for one MessageHandler and wires each socket to it: frames in, pre-framed
 * broadcasts out, keep-alive pings, and cleanup on close. `noServer` mode: the mount decides which upgrade
 * requests are ours; we never listen on a port ourselves.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Connection } from '../connection.js';
import type { ConnectionInfo, MessageHandler } from '../handler.js';
import type { Logger } from '../log.js';
import { WsSocket } from './ws.js';

/** Frames a client may send before its history has been sent; they are processed in order once it has. */
const MAX_EARLY_FRAMES = 1000;

export interface WsEndpointOptions {
  maxMessageBytes: number;
  maxBufferedBytes: number;
  pingIntervalMs: number;
}

export class WsEndpoint {
  private readonly wss: WebSocketServer;
  private readonly alive = new WeakMap<WebSocket, boolean>();
  private readonly pinger: NodeJS.Timeout;
  /** Set-Cookie headers to add to the 101 response of a handshake (new anonymous sessions). */
  private readonly cookies = new WeakMap<IncomingMessage, string>();

  constructor(
    private readonly handler: MessageHandler,
    private readonly options: WsEndpointOptions,
    private readonly log: Logger,
  ) {
    // perMessageDeflate off: pre-framed broadcasts must go out byte-identical to every subscriber.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes, perMessageDeflate: false, clientTracking: true });
    this.wss.on('headers', (headers, req) => {
      const cookie = this.cookies.get(req);
      if (cookie) headers.push(`Set-Cookie: ${cookie}`);
    });
    this.pinger = setInterval(() => this.ping(), options.pingIntervalMs);
    this.pinger.unref();
  }

  /**
   * Completes the handshake and starts the connection. `release` runs exactly once when the connection ends
   * (it frees the connection's place under the handler's limits).
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, info: ConnectionInfo, setCookie: string | null, release: () => void): void {
    if (setCookie) this.cookies.set(req, setCookie);
    let released = false;
    const once = (): void => {
      if (!released) {
        released = true;
        release();
      }
    };
    // A handshake that fails (bad Sec-WebSocket-Key, client gone) never reaches accept().
    socket.once('close', once);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      ws.once('close', once);
      this.accept(ws, info);
    });
  }

  private accept(ws: WebSocket, info: ConnectionInfo): void {
    const socket = new WsSocket(ws, { maxBufferedBytes: this.options.maxBufferedBytes });
    this.alive.set(ws, true);
    ws.on('pong', () => this.alive.set(ws, true));
    // Frames that arrive while history is still being sent are processed once the connection is live.
    let conn: Connection | null = null;
    let early: string[] | null = [];
    let closed = false;
    ws.on('message', (data, isBinary) => {
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
      void isBinary; // binary frames carrying JSON are accepted, as in Gramex
      if (conn) this.handler.receive(conn, text);
      else if (early && early.length < MAX_EARLY_FRAMES) early.push(text);
      else if (early) {
        // A client that floods while its history is still being sent: refuse rather than buffer without bound.
        early = null;
        socket.close(4429, 'Too many frames before the connection was ready');
      }
    });
    ws.on('error', (err) => this.log('warn', `url:${this.handler.name}: socket error`, err));
    ws.on('close', () => {
      closed = true;
      if (conn) this.handler.disconnect(conn);
    });
    this.handler.open(socket, info).then(
      (c) => {
        if (!c) return;
        if (closed) {
          this.handler.disconnect(c);
          return;
        }
        conn = c;
        const queued = early ?? [];
        early = null;
        for (const text of queued) this.handler.receive(c, text);
      },
      (err) => {
        this.log('error', `url:${this.handler.name}: open failed`, err);
        socket.close(1011, 'Internal error');
      },
    );
  }

  private ping(): void {
    for (const ws of this.wss.clients) {
      if (this.alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      this.alive.set(ws, false);
      ws.ping();
    }
  }

  /** Stops pinging and terminates any socket the handler did not close. */
  close(): void {
    clearInterval(this.pinger);
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }
}
