/**
 * @module core/session
 * What a two-way transport holds for one connection (`MessageHandler.attach`): it calls `receive` with each
 * client frame and `close` when the connection ends, and nothing else. The session owns what every transport
 * would otherwise repeat: frames that arrive while the subscription is still being set up (its history being
 * sent) wait here, in order, at most MAX_EARLY_FRAMES of them; a refused subscription drops them; and no failure
 * in handling a frame can escape into the transport's event handler.
 */
import { MhError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Codec } from '../protocol/codec.js';
import type { Sink } from '../transport/sink.js';
import type { MessageHandler } from './handler.js';
import type { Subscriber } from './subscriber.js';

/** Frames a client may send before its history has been sent; they are processed in order once it has. */
export const MAX_EARLY_FRAMES = 1000;

export class Session {
  private sub: Subscriber | null = null;
  /** Frames (text, bytes) waiting for the subscription; null once it is live or refused. */
  private early: (string | number)[] | null = [];
  private closed = false;

  constructor(
    private readonly handler: MessageHandler,
    private readonly sink: Sink,
    opened: Promise<Subscriber | null>,
    private readonly codec: Codec,
    private readonly log: Logger,
  ) {
    opened.then(
      (s) => {
        const queued = this.early ?? [];
        this.early = null;
        if (!s) return;
        if (this.closed) return this.handler.disconnect(s);
        this.sub = s;
        for (let i = 0; i < queued.length; i += 2) this.deliver(s, queued[i] as string, queued[i + 1] as number);
      },
      (err) => {
        this.early = null;
        this.log('error', `url:${this.handler.name}: open failed`, err, { conn: this.sink.peer ?? '' });
        const e = new MhError('MH_ERR_INTERNAL');
        this.sink.sendText(this.codec.error(e), 0);
        this.sink.close(e.closeCode!, e.message);
      },
    );
  }

  /** A frame from the client. Never throws. */
  receive(text: string, bytes: number): void {
    if (this.sub) this.deliver(this.sub, text, bytes);
    else if (this.early && this.early.length < 2 * MAX_EARLY_FRAMES) this.early.push(text, bytes);
    else if (this.early) {
      // A client that floods while its history is still being sent: refuse rather than buffer without bound.
      this.early = null;
      const e = new MhError('MH_ERR_EARLY_FLOOD', [MAX_EARLY_FRAMES]);
      this.handler.stats.refuse(e.code);
      this.sink.sendText(this.codec.error(e), 0);
      this.sink.close(e.closeCode!, e.message);
    }
  }

  /** The connection ended (however). */
  close(): void {
    this.closed = true;
    this.early = null;
    if (this.sub) this.handler.disconnect(this.sub);
  }

  /**
   * The last line between a client's frame and the process: `receive` answers every bad input itself and does
   * not throw, but a bug that did would otherwise escape a socket's event listener and end the process for all.
   */
  private deliver(s: Subscriber, text: string, bytes: number): void {
    try {
      this.handler.receive(s, text, bytes);
    } catch (err) {
      this.log('error', `url:${this.handler.name}: a frame failed unexpectedly; closing that connection`, err, { conn: this.sink.peer ?? '' });
      const e = new MhError('MH_ERR_INTERNAL');
      this.sink.close(e.closeCode!, e.message);
    }
  }
}
