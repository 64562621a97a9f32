/**
 * @module transport/ws
 * `ws` WebSocket → Sink. The only module that imports `ws` for sending.
 *
 * Why not `ws.send()` per message: every delivery is a `write()` syscall, and on this workload the kernel is
 * 80% of the cost (docs/performance.md). So each broadcast is framed once (the frame bytes are cached on the
 * shared Payload), and all frames a socket receives during one event-loop turn are concatenated and written
 * with one syscall on `setImmediate`. This adds no timer delay; batches grow with load on their own.
 */
import WebSocket from 'ws';
import { CloseCode, MhError } from '../errors.js';
import type { HandlerStats } from '../ops/counters.js';
import { peerOf, type Payload, type Sink } from './sink.js';

/** The length of a server → client frame header for a body of `len` bytes. */
function headerSize(len: number): number {
  return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

/** Writes a final, unmasked text frame's header for a body of `len` bytes at `off`; returns the body's offset. */
function writeHeader(buf: Buffer, off: number, len: number): number {
  buf[off] = 0x81; // FIN + text opcode
  if (len < 126) {
    buf[off + 1] = len;
    return off + 2;
  }
  if (len < 65536) {
    buf[off + 1] = 126;
    buf.writeUInt16BE(len, off + 2);
    return off + 4;
  }
  buf[off + 1] = 127;
  buf.writeBigUInt64BE(BigInt(len), off + 2);
  return off + 10;
}

/** Frames a text payload as one unmasked, final WebSocket text frame (server → client). */
export function frameText(text: string): Buffer {
  const len = Buffer.byteLength(text, 'utf8');
  // Not from Buffer's shared 8 KiB pool: a frame can sit in a slow consumer's queue for a while, and a pooled
  // slice would pin its whole pool slab (measured: 13 MiB held for a 4 MiB queue).
  const frame = Buffer.allocUnsafeSlow(headerSize(len) + len);
  frame.write(text, writeHeader(frame, 0, len), len, 'utf8');
  return frame;
}

const encodeWs = (text: string): Buffer => frameText(text);

/**
 * How flushes were written, since the process started: `fast` through ws's Sender with our pre-framed bytes,
 * `fallback` one `ws.send()` per frame because ws's internals were not as this module expects. The fast path
 * reads three private members of `ws` (`_sender.sendFrame`, `_sender._state`, `_sender._queue`, and `_socket` in
 * `drained`): `ws` is pinned to an exact version in package.json, and test/transport/ws-fast-path.test.ts fails
 * when an upgrade makes the fast path stop being taken.
 */
export const wsWritePaths = { fast: 0, fallback: 0 };

interface RawSender {
  sendFrame(list: Buffer[], cb?: (err?: Error) => void): void;
  _state?: number;
  _queue?: unknown[];
}

/**
 * Sockets with frames waiting for this turn's flush, in the order they got their first frame of the turn.
 * One setImmediate serves them all. An array with a count (not a Set that is cleared every turn) so that a
 * turn's flush allocates nothing per socket.
 */
const dirty: (WsSocket | undefined)[] = [];
let dirtyCount = 0;
let flushScheduled = false;

/**
 * The last concatenation made during a flush. Subscribers of one filter group (and of groups that matched the
 * same events) receive the same frames in the same order and sit next to each other in `dirty`, so they share
 * one concatenated buffer: a broadcast turn costs one copy per distinct frame list, not one per subscriber.
 */
interface SharedConcat {
  frames: Buffer[];
  bytes: number;
  buf: Buffer | null;
}

function flushAll(): void {
  flushScheduled = false;
  flushDirty();
}

/**
 * Sockets written per turn at most. A saturated broadcast writes to every subscriber each turn, one write() of
 * ~15 µs each here: at 5000 subscribers, flushing them all in one turn held the event loop 100–145 ms. The rest
 * are written on the next turn, in order, with whatever they have queued by then (measured, fan-out and latency
 * scenarios, 5 reps each way: loop max at N=5000 100–145 → 18–30 ms, throughput equal at N=1000 and higher at
 * N=5000, latency p99 the same within the noise).
 */
export const FLUSH_CHUNK = 256;

function flushDirty(): void {
  const shared: SharedConcat = { frames: [], bytes: 0, buf: null };
  // dirtyCount is re-read: a socket that gets a frame while we flush (e.g. from a close handler) is flushed too.
  let i = 0;
  for (; i < dirtyCount && i < FLUSH_CHUNK; i++) {
    const s = dirty[i]!;
    dirty[i] = undefined;
    s.queued = false;
    s.flushShared(shared);
  }
  if (i < dirtyCount) {
    // The rest keep their order and go out on the next turn.
    dirty.copyWithin(0, i, dirtyCount);
    dirty.fill(undefined, dirtyCount - i, dirtyCount);
    dirtyCount -= i;
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flushAll);
    }
    return;
  }
  dirtyCount = 0;
}

/**
 * Writes every socket's queued frames now (rather than on this turn's setImmediate). The WebSocket endpoint
 * registers it with its handler's hub, so a committed batch's frames are written as soon as it is published.
 */
export function flushWsSockets(): void {
  if (dirtyCount > 0) flushDirty();
}

export interface WsSocketOptions {
  /** Bytes a subscriber may have queued (ours + the kernel's not yet accepted) before it is closed as slow. */
  maxBufferedBytes: number;
  /**
   * Where writes are counted for metrics (once per socket write: frames, bytes) and slow-consumer closes. One
   * options object is shared by every socket of an endpoint.
   */
  stats?: HandlerStats;
}

export class WsSocket implements Sink {
  /**
   * Frames queued this turn: the first `pendingCount` entries (the array is reused from turn to turn). A
   * string is a history row's JSON, framed straight into the turn's write (its body's byte length is at the
   * same index of `textBytes`): a 100k-row replay then allocates no Buffer per row.
   */
  private readonly pending: (Buffer | string | undefined)[] = [];
  private textBytes: number[] | null = null;
  private pendingCount = 0;
  private pendingBytes = 0;
  /**
   * Bytes we may queue before the slow-consumer check needs ws's live queue size: the limit minus what was
   * still buffered at the last flush. That queue only shrinks between flushes, so this is conservative, and
   * the per-frame cost of the check is one comparison.
   */
  private room: number;
  /** In `dirty`, waiting for the turn's flush. */
  queued = false;
  private readonly sender: RawSender | undefined;

  /** @internal (with `ws` below: the shipped .d.ts never name `ws`'s types, a devDependency there) */
  constructor(
    /** @internal */
    readonly ws: WebSocket,
    private readonly options: WsSocketOptions,
  ) {
    // ws's Sender writes frames straight to the net.Socket when it has nothing queued (no compression, which
    // we disable). Writing our pre-framed bytes through it keeps ws's own control frames correctly ordered.
    const sender = (ws as unknown as { _sender?: RawSender })._sender;
    this.sender = sender && typeof sender.sendFrame === 'function' ? sender : undefined;
    this.room = options.maxBufferedBytes;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  get peer(): string {
    return peerOf((this.ws as unknown as { _socket?: import('node:net').Socket })._socket);
  }

  get backlogged(): boolean {
    return this.pendingBytes + this.ws.bufferedAmount > this.options.maxBufferedBytes / 4;
  }

  send(payload: Payload): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const frame = payload.encode('ws', encodeWs);
    this.enqueue(frame, frame.length);
  }

  sendText(text: string): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const len = Buffer.byteLength(text, 'utf8');
    (this.textBytes ??= [])[this.pendingCount] = len;
    this.enqueue(text, headerSize(len) + len);
  }

  private enqueue(frame: Buffer | string, size: number): void {
    const bytes = this.pendingBytes + size;
    if (bytes > this.room) {
      // Over the estimate: look at what ws and the kernel really hold now before deciding.
      this.room = this.options.maxBufferedBytes - this.ws.bufferedAmount;
      if (bytes > this.room) {
        // A reader that cannot keep up must not grow our memory without bound, nor slow anyone else down.
        const err = new MhError('MH_ERR_SLOW_CONSUMER', [this.options.maxBufferedBytes]);
        if (this.options.stats) this.options.stats.slowConsumerCloses++;
        this.drop();
        this.close(err.closeCode ?? CloseCode.SlowConsumer, err.message);
        return;
      }
    }
    this.pending[this.pendingCount++] = frame;
    this.pendingBytes = bytes;
    if (!this.queued) {
      this.queued = true;
      dirty[dirtyCount++] = this;
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushAll);
      }
    }
  }

  /** Writes everything queued this turn in one syscall. */
  flush(): void {
    this.flushShared(null);
  }

  /** flush(), reusing `shared`'s concatenation when this socket's frames are the same list. */
  flushShared(shared: SharedConcat | null): void {
    const n = this.pendingCount;
    if (n === 0) return;
    const list = this.pending;
    const bytes = this.pendingBytes;
    this.pendingCount = 0;
    this.pendingBytes = 0;
    const s = this.sender;
    if (!this.isOpen || !(s && (s._state === undefined || s._state === 0) && (!s._queue || s._queue.length === 0))) {
      // Closed (drop), or ws internals not as expected: one send per frame through the public API.
      if (this.isOpen) {
        wsWritePaths.fallback++;
        this.count(n, bytes);
        for (let i = 0; i < n; i++) {
          const f = list[i]!;
          this.ws.send(typeof f === 'string' ? f : f.subarray(headerLength(f)), { binary: false });
        }
      }
      list.fill(undefined, 0, n);
      return;
    }
    let buf: Buffer;
    const first = list[0]!;
    if (n === 1 && typeof first !== 'string') {
      buf = first;
      list[0] = undefined;
    } else if (shared && shared.buf && shared.bytes === bytes && shared.frames.length === n && sameFrames(shared.frames, list, n)) {
      buf = shared.buf;
    } else {
      buf = Buffer.allocUnsafeSlow(bytes); // not pooled: see frameText
      let off = 0;
      let texts = false;
      for (let i = 0; i < n; i++) {
        const f = list[i]!;
        if (typeof f !== 'string') off += f.copy(buf, off);
        else {
          texts = true;
          const len = this.textBytes![i]!;
          off = writeHeader(buf, off, len);
          off += buf.write(f, off, len, 'utf8');
        }
      }
      // A history row goes to one socket only: nothing to share.
      if (shared && !texts) {
        shared.frames = list.slice(0, n) as Buffer[];
        shared.bytes = bytes;
        shared.buf = buf;
      }
      list.fill(undefined, 0, n);
    }
    s.sendFrame([buf]);
    wsWritePaths.fast++;
    this.count(n, bytes);
    this.room = this.options.maxBufferedBytes - this.ws.bufferedAmount;
  }

  /** One socket write of `frames` frames, `bytes` bytes: counted for metrics, once per write (not per frame). */
  private count(frames: number, bytes: number): void {
    const st = this.options.stats;
    if (st === undefined) return;
    st.writes++;
    st.framesOut += frames;
    st.bytesOut += bytes;
  }

  drained(): Promise<void> {
    this.flush();
    const raw = (this.ws as unknown as { _socket?: import('node:net').Socket })._socket;
    // Even with room to spare, resolve on a later turn, not in a microtask: a replay awaits this between pages,
    // and a promise that is already resolved would run every page of a 100k-row history in one event-loop turn
    // (measured: a 1 s stall of live fan-out for everyone else).
    if (!this.isOpen || !raw || this.ws.bufferedAmount < this.options.maxBufferedBytes / 4) return new Promise((resolve) => setImmediate(resolve));
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

  /** Forgets the frames queued this turn. */
  private drop(): void {
    this.pending.fill(undefined, 0, this.pendingCount);
    this.pendingCount = 0;
    this.pendingBytes = 0;
  }
}

/** Whether the first `n` queued frames are `frames` (the same Buffers, in the same order); clears them if so. */
function sameFrames(frames: Buffer[], list: (Buffer | string | undefined)[], n: number): boolean {
  for (let i = 0; i < n; i++) if (frames[i] !== list[i]) return false;
  list.fill(undefined, 0, n);
  return true;
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
