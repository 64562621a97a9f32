/**
 * @module transport/collect
 * A Socket that gathers frames for one long-poll response. It reports itself closed once it holds `max`
 * frames, so a replay stops there (the client continues from the last `_seq` it got), and it tells the
 * long-poll request when the first live frame arrives.
 */
import { Payload, type Socket } from './socket.js';

export class CollectSocket implements Socket {
  readonly frames: Payload[] = [];
  private closed = false;
  /** Called when a frame is added (the long-poll answers on the next turn, to batch a burst). */
  onFrame: (() => void) | null = null;

  constructor(private readonly max: number) {}

  get isOpen(): boolean {
    return !this.closed && this.frames.length < this.max;
  }

  /** Frames are held in memory up to `max`; nothing is ever waiting on a network. */
  readonly backlogged = false;

  send(payload: Payload): void {
    if (!this.isOpen) return;
    this.frames.push(payload);
    this.onFrame?.();
  }

  sendText(text: string, seq: number): void {
    this.send(new Payload(text, seq));
  }

  drained(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {
    this.closed = true;
    this.onFrame?.();
  }
}
