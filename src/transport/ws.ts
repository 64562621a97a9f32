/**
 * @module transport/ws
 * `ws` WebSocket → Socket. The only module that imports `ws` for sending.
 *
 * Why not `ws.send()` per message: every delivery is a `write()` syscall, and on this workload the kernel is
 * 80% of the cost (docs/performance.md). So each broadcast is framed once (the frame bytes are cached on the
 * shared Payload), and all frames a socket receives during one event-loop turn are concatenated and written
 * with one syscall on `setImmediate`. This adds no timer delay; batches grow with load on their own.
 */
import WebSocket from 'ws';
import { CloseCode, MhError } from '../errors.js';
import type { Payload, Socket } from './socket.js';

/** Frames a text payload as one unmasked, final WebSocket text frame (server → client). */
export function frameText(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  const len = body.length;
  const headerLen = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLen + len);
  frame[0] = 0x81; // FIN + text opcode
  if (len < 126) frame[1] = len;
  else if (len < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(len), 2);
  }
  body.copy(frame, headerLen);
  return frame;
}

const encodeWs = (text: string): Buffer => frameText(text);

interface RawSender {
  sendFrame(list: Buffer[], cb?: (err?: Error) => void): void;
  _state?: number;
  _queue?: unknown[];
}

/** Sockets with frames waiting for this turn's flush. One setImmediate serves them all. */
const dirty = new Set<WsSocket>();
let flushScheduled = false;

function flushAll(): void {
  flushScheduled = false;
  for (const s of dirty) s.flush();
  dirty.clear();
}

export interface WsSocketOptions {
  /** Bytes a subscriber may have queued (ours + the kernel's not yet accepted) before it is closed as slow. */
  maxBufferedBytes: number;
}

export class WsSocket implements Socket {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly sender: RawSender | undefined;

  constructor(
    readonly ws: WebSocket,
    private readonly options: WsSocketOptions,
  ) {
    // ws's Sender writes frames straight to the net.Socket when it has nothing queued (no compression, which
    // we disable). Writing our pre-framed bytes through it keeps ws's own control frames correctly ordered.
    const sender = (ws as unknown as { _sender?: RawSender })._sender;
    this.sender = sender && typeof sender.sendFrame === 'function' ? sender : undefined;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(payload: Payload): void {
    if (!this.isOpen) return;
    const frame = payload.encode('ws', encodeWs);
    if (this.ws.bufferedAmount + this.pendingBytes + frame.length > this.options.maxBufferedBytes) {
      // A reader that cannot keep up must not grow our memory without bound, nor slow anyone else down.
      const err = new MhError('MH_ERR_SLOW_CONSUMER', [this.options.maxBufferedBytes]);
      this.pending = [];
      this.pendingBytes = 0;
      this.close(err.closeCode ?? CloseCode.SlowConsumer, err.message);
      return;
    }
    this.pending.push(frame);
    this.pendingBytes += frame.length;
    if (this.pending.length === 1) {
      dirty.add(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushAll);
      }
    }
  }

  /** Writes everything queued this turn in one syscall. */
  flush(): void {
    const list = this.pending;
    if (list.length === 0) return;
    this.pending = [];
    this.pendingBytes = 0;
    if (!this.isOpen) return;
    const buf = list.length === 1 ? list[0]! : Buffer.concat(list);
    const s = this.sender;
    if (s && (s._state === undefined || s._state === 0) && (!s._queue || s._queue.length === 0)) {
      s.sendFrame([buf]);
    } else {
      // Fallback through the public API (e.g. if ws internals change): one send per frame.
      for (const f of list) this.ws.send(f.subarray(headerLength(f)), { binary: false });
    }
  }

  drained(): Promise<void> {
    this.flush();
    const raw = (this.ws as unknown as { _socket?: import('node:net').Socket })._socket;
    if (!this.isOpen || !raw || this.ws.bufferedAmount < this.options.maxBufferedBytes / 4) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        raw.off('drain', done);
        raw.off('close', done);
        resolve();
      };
      raw.on('drain', done);
      raw.on('close', done);
    });
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState === WebSocket.CLOSED || this.ws.readyState === WebSocket.CLOSING) return;
    this.flush();
    this.ws.close(code, capReason(reason));
  }
}

function headerLength(frame: Buffer): number {
  const l = frame[1]! & 0x7f;
  return l < 126 ? 2 : l === 126 ? 4 : 10;
}

/** Close reasons must fit in a control frame (≤ 123 bytes of UTF-8). */
export function capReason(reason: string): string {
  let r = reason;
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -2) + '…';
  return r;
}
