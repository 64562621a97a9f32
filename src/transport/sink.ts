/**
 * @module transport/sink
 * The Sink: the whole of what the core knows about a subscriber's connection. Each transport (WebSocket, SSE,
 * long-polling, an HTTP read, an adapter's socket) adapts its library to this interface and hands it to the core
 * (`MessageHandler.attach` or `open`); handler, hub and pipeline never import `ws`. Contract: frames reach the
 * peer in the order they were sent; `send` and `sendText` never throw; a sink whose peer reads too slowly closes
 * itself as a slow consumer (MH_ERR_SLOW_CONSUMER) rather than grow without bound: that policy needs the
 * transport's own buffer sizes, so it lives in each Sink, with the same limit (`max_buffered_bytes`).
 */

/**
 * One outgoing frame's JSON text, shared by every recipient of the same event and projection. Transports
 * cache their own encoding on it (e.g. the framed WebSocket bytes), so a broadcast is serialized and framed
 * once, not once per subscriber.
 */
export class Payload {
  /**
   * Transport-specific encodings, computed on first use. The first one is kept inline: a history row is
   * encoded for one transport only, and a Map per row would cost more than the row's frame.
   */
  private firstKind: string | null = null;
  private firstBuf: Buffer | null = null;
  private more: Map<string, Buffer> | null = null;

  /**
   * @param text the frame's JSON
   * @param seq the event's sequence number, for transports that carry it outside the JSON (SSE `id:`) and
   *     for acknowledged delivery; 0 for frames that are not events (errors, acks, direct messages)
   */
  constructor(
    readonly text: string,
    readonly seq = 0,
  ) {}

  static of(value: unknown, seq = 0): Payload {
    return new Payload(JSON.stringify(value), seq);
  }

  /** The encoding for a transport, computed once by `encode` and then shared. */
  encode(kind: string, encode: (text: string) => Buffer): Buffer {
    if (this.firstKind === kind) return this.firstBuf!;
    if (this.firstKind === null) {
      this.firstKind = kind;
      return (this.firstBuf = encode(this.text));
    }
    this.more ??= new Map();
    let buf = this.more.get(kind);
    if (!buf) {
      buf = encode(this.text);
      this.more.set(kind, buf);
    }
    return buf;
  }
}

export interface Sink {
  /**
   * Queues a frame. Frames queued during one event-loop turn reach the peer in one write, in queue order.
   * Never throws; a socket whose queue passes its byte limit is closed as a slow consumer.
   */
  send(payload: Payload): void;
  /**
   * Queues a frame only this socket receives (a history row, an acknowledgement), given as its JSON and its
   * `_seq` (0 if not an event): no Payload is needed, and a transport may encode it straight into its next
   * write. Same ordering and limits as `send`.
   */
  sendText(text: string, seq: number): void;
  /** Closes with a WebSocket-style code and a short reason (capped to 123 bytes). */
  close(code: number, reason: string): void;
  /**
   * The client's address:port as this server's socket sees it, for log lines about this connection (computed
   * when asked; nothing is stored per connection). Optional: a sink without a socket of its own has none.
   */
  readonly peer?: string;
  /** False once closing or closed: sends are then dropped. */
  readonly isOpen: boolean;
  /**
   * True when more than a quarter of the socket's byte limit is waiting to be sent: a replay then awaits
   * `drained()` before queueing more, so even big rows never trip the slow-consumer limit mid-replay.
   */
  readonly backlogged: boolean;
  /**
   * Resolves when the frames queued so far have mostly reached the kernel (or the socket closed), so a long
   * replay can pace itself instead of filling memory or tripping the slow-consumer limit.
   */
  drained(): Promise<void>;
}

/** A socket's remote address:port, for log lines about its connection ('' once it is gone). */
export function peerOf(socket: { remoteAddress?: string; remotePort?: number } | null | undefined): string {
  if (!socket?.remoteAddress) return '';
  return socket.remoteAddress.includes(':') ? `[${socket.remoteAddress}]:${socket.remotePort}` : `${socket.remoteAddress}:${socket.remotePort}`;
}

/**
 * What names one HTTP request in the log: its `X-Request-Id` (a proxy's, so the two logs can be joined; at most
 * 64 safe characters), else the client's address:port.
 */
export function requestId(req: { headers: Record<string, string | string[] | undefined>; socket?: { remoteAddress?: string; remotePort?: number } | null }): string {
  const id = req.headers['x-request-id'];
  if (typeof id === 'string' && /^[A-Za-z0-9._:@/+=-]{1,64}$/.test(id)) return id;
  return peerOf(req.socket);
}
