/**
 * @module transport/socket
 * The whole of what the core knows about a connection. Each transport (WebSocket today; SSE and long-polling
 * build on the same shape) adapts its library to this interface, so handler, hub and pipeline never import `ws`.
 */

/**
 * One outgoing frame's JSON text, shared by every recipient of the same event and projection. Transports
 * cache their own encoding on it (e.g. the framed WebSocket bytes), so a broadcast is serialized and framed
 * once, not once per subscriber.
 */
export class Payload {
  /** Transport-specific encodings, computed on first use. */
  readonly encoded = new Map<string, Buffer>();
  constructor(readonly text: string) {}

  static of(value: unknown): Payload {
    return new Payload(JSON.stringify(value));
  }

  /** The encoding for a transport, computed once by `encode` and then shared. */
  encode(kind: string, encode: (text: string) => Buffer): Buffer {
    let buf = this.encoded.get(kind);
    if (!buf) {
      buf = encode(this.text);
      this.encoded.set(kind, buf);
    }
    return buf;
  }
}

export interface Socket {
  /**
   * Queues a frame. Frames queued during one event-loop turn reach the peer in one write, in queue order.
   * Never throws; a socket whose queue passes its byte limit is closed as a slow consumer.
   */
  send(payload: Payload): void;
  /** Closes with a WebSocket-style code and a short reason (capped to 123 bytes). */
  close(code: number, reason: string): void;
  /** False once closing or closed: sends are then dropped. */
  readonly isOpen: boolean;
}
