/**
 * @module http/json-array
 * A Sink that streams the frames it is sent as one JSON array in an HTTP response (an HTTP history read), so
 * the same paged, paced replay that feeds a WebSocket (hub/replay.ts) feeds a GET: the server never holds more than
 * a page of rows and a few chunks of output per read, however many rows the read returns and however slowly
 * the client reads them.
 *
 * Pacing follows `res.write`: once a write returns false (the response buffers more than its high-water mark,
 * 16 KiB), `backlogged` is true and `drained()` waits for `'drain'`; so beyond what the kernel holds, a read
 * buffers about two chunks. A fast client gets `TURN_BYTES` per event-loop turn, so many reads share the loop
 * with everyone else. A client that reads nothing for `stallMs` is cut off (the response is destroyed), so a
 * paused reader cannot hold a database snapshot forever.
 */
import type { ServerResponse } from 'node:http';
import type { Payload, Sink } from '../transport/sink.js';
import { jsonStreamHeaders } from './respond.js';

/** Frames are joined and written in chunks of about this many bytes (one write and one HTTP chunk each). */
const CHUNK_BYTES = 16 * 1024;
/**
 * Most bytes one read hands the kernel in one event-loop turn. A fast client's kernel buffers take megabytes at
 * once; without this, one read would copy a whole page of big rows in one turn while other clients wait.
 */
const TURN_BYTES = 128 * 1024;

export interface JsonArrayOptions {
  /** A read that cannot write for this long is abandoned (ms). */
  stallMs: number;
}

export class JsonArrayResponse implements Sink {
  /** Whether the 200 and its headers went out. */
  private started = false;
  /** Frames sent so far (the first is preceded by `[`, the others by `,`). */
  private frames = 0;
  private closed = false;
  /** A HEAD request gets the headers alone: no row is read for it. */
  private readonly head: boolean;
  /** Text waiting to be written: `[` or `,` before each frame, joined at flush. */
  private pending: string[] = [];
  private pendingBytes = 0;
  /** Bytes written since the read last gave the event loop a turn. */
  private turnBytes = 0;

  constructor(
    private readonly res: ServerResponse,
    private readonly options: JsonArrayOptions,
  ) {
    this.head = res.req?.method === 'HEAD';
    res.once('close', () => (this.closed = true));
  }

  get isOpen(): boolean {
    return !this.closed && !this.head && !this.res.destroyed;
  }

  get backlogged(): boolean {
    return this.isOpen && (this.res.writableNeedDrain || this.turnBytes + this.pendingBytes >= TURN_BYTES);
  }

  send(payload: Payload): void {
    this.sendText(payload.text, payload.seq);
  }

  sendText(text: string, _seq: number): void {
    if (!this.isOpen) return;
    this.pending.push(this.frames++ === 0 ? '[' : ',', text);
    // (UTF-16 length: a cheap stand-in for bytes; it only sizes chunks.)
    this.pendingBytes += text.length + 1;
    if (this.pendingBytes >= CHUNK_BYTES) this.flush();
  }

  /**
   * Writes what is pending, then waits until the response takes more (or closes, or stalls), or, after a
   * turn's worth of bytes, for the next turn.
   */
  drained(): Promise<void> {
    this.flush();
    if (!this.isOpen) return Promise.resolve();
    if (!this.res.writableNeedDrain) {
      if (this.turnBytes < TURN_BYTES) return Promise.resolve();
      this.turnBytes = 0;
      return new Promise((resolve) => setImmediate(resolve));
    }
    this.turnBytes = 0;
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.res.destroy();
        done();
      }, this.options.stallMs);
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  /** Closes the array and ends the response (an empty read answers `[]`). */
  end(): void {
    if (this.closed || this.res.destroyed) return;
    this.flush();
    this.closed = true;
    if (!this.started) this.start();
    this.res.end(this.head ? undefined : this.frames === 0 ? '[]' : ']');
  }

  /** Abandons the response: a client that already has the 200 sees it cut short, never a valid partial array. */
  close(): void {
    this.closed = true;
    this.res.destroy();
  }

  private start(): void {
    this.started = true;
    // Headers set earlier on `res` (Set-Cookie) are merged in by writeHead.
    this.res.writeHead(200, jsonStreamHeaders());
  }

  private flush(): void {
    if (this.pending.length === 0 || !this.isOpen) return;
    if (!this.started) this.start();
    this.res.write(this.pending.join(''));
    this.turnBytes += this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
  }
}
