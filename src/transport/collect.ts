/**
 * @module transport/collect
 * A Sink that gathers frames for one long-poll response. It reports itself closed once it holds `max`
 * frames or `maxBytes` of their JSON, so a replay stops there (the client continues from the last `_seq` it
 * got) and one answer stays bounded in memory, and it tells the long-poll request when the first live frame
 * arrives.
 */
import { Payload, type Sink } from './sink.js';

export class CollectSocket implements Sink {
  readonly frames: Payload[] = [];
  /** Bytes of the frames' JSON (UTF-8). */
  private size = 0;
  private closed = false;
  /** Called when a frame is added (the long-poll answers on the next turn, to batch a burst). */
  onFrame: (() => void) | null = null;

  /**
   * @param max most frames held
   * @param maxBytes most bytes of JSON held: the frame that passes it is the last one kept (so one frame
   *     always fits, whatever its size)
   */
  constructor(
    private readonly max: number,
    private readonly maxBytes = Infinity,
  ) {}

  get isOpen(): boolean {
    return !this.closed && this.frames.length < this.max && this.size < this.maxBytes;
  }

  /** Frames are held in memory up to `max`; nothing is ever waiting on a network. */
  readonly backlogged = false;

  send(payload: Payload): void {
    if (!this.isOpen) return;
    this.frames.push(payload);
    this.size += Buffer.byteLength(payload.text, 'utf8');
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
