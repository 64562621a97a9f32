/**
 * @module transport/sse
 * Server-Sent Events → Sink. One `event` per frame: `id:` is the event's `_seq` (so a browser's automatic
 * reconnect resumes with `Last-Event-ID`), `data:` its JSON. Comments keep idle proxies from closing the
 * stream. SSE is one-way: clients publish with HTTP POST.
 */
import type { ServerResponse } from 'node:http';
import { MhError } from '../errors.js';
import type { HandlerStats } from '../ops/counters.js';
import { Payload, peerOf, type Sink } from './sink.js';

const encodeSse = (payload: Payload): Buffer =>
  Buffer.from(`${payload.seq > 0 ? `id: ${payload.seq}\n` : ''}data: ${payload.text}\n\n`, 'utf8');

export interface SseSocketOptions {
  maxBufferedBytes: number;
  keepAliveMs: number;
  /** Where frames written and slow-consumer closes are counted for metrics. */
  stats?: HandlerStats;
}

export class SseSocket implements Sink {
  private open = true;
  private readonly keepAlive: NodeJS.Timeout;

  constructor(
    private readonly res: ServerResponse,
    private readonly options: SseSocketOptions,
  ) {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // Tell nginx not to buffer the stream.
      'X-Accel-Buffering': 'no',
      'X-Content-Type-Options': 'nosniff',
    });
    // Ask browsers to wait 1 s before reconnecting, and open the stream at once (some proxies wait for data).
    res.write('retry: 1000\n: stream open\n\n');
    this.keepAlive = setInterval(() => this.open && res.write(': keep-alive\n\n'), options.keepAliveMs);
    this.keepAlive.unref();
    res.on('close', () => {
      this.open = false;
      clearInterval(this.keepAlive);
    });
  }

  get peer(): string {
    return peerOf(this.res.socket);
  }

  get isOpen(): boolean {
    return this.open && !this.res.destroyed;
  }

  get backlogged(): boolean {
    return this.res.writableLength > this.options.maxBufferedBytes / 4;
  }

  sendText(text: string, seq: number): void {
    this.send(new Payload(text, seq));
  }

  send(payload: Payload): void {
    if (!this.isOpen) return;
    const bytes = payload.encode('sse', () => encodeSse(payload));
    if (this.res.writableLength + bytes.length > this.options.maxBufferedBytes) {
      const err = new MhError('MH_ERR_SLOW_CONSUMER', [this.options.maxBufferedBytes]);
      if (this.options.stats) this.options.stats.slowConsumerCloses++;
      this.close(err.closeCode!, err.message);
      return;
    }
    this.res.write(bytes);
    const st = this.options.stats;
    if (st) {
      st.writes++;
      st.framesOut++;
      st.bytesOut += bytes.length;
    }
  }

  drained(): Promise<void> {
    if (!this.isOpen || this.res.writableLength < this.options.maxBufferedBytes / 4) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  /** Ends the stream with a final `close` event carrying the WebSocket-style code and reason. */
  close(code: number, reason: string): void {
    if (!this.isOpen) return;
    this.open = false;
    clearInterval(this.keepAlive);
    this.res.end(`event: close\ndata: ${JSON.stringify({ code, reason })}\n\n`);
  }
}
