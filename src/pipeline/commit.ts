/**
 * @module pipeline/commit
 * Group commit: every message that finishes the pipeline during one event-loop turn is written in one
 * transaction (at most MAX_BATCH per transaction), then everything committed goes to the bus as one batch, in
 * commit order, and then each message's Reply hears its outcome. So a sender hears its acknowledgement after its
 * own event was handed to the hub, and no subscriber ever hears of a message that was not stored.
 */
import { MhError } from '../errors.js';
import type { BusEvent } from '../bus/bus.js';
import type { Reply } from '../core/intake.js';
import type { Logger } from '../log.js';
import type { HandlerStats } from '../ops/counters.js';
import type { Store, WriteResult } from '../store/store.js';
import type { Prepared } from './run.js';

/** The most writes committed in one transaction; a turn with more is split. */
const MAX_BATCH = 1000;

export interface Pending {
  prepared: Prepared;
  reply: Reply;
  /** Its size as received: given back to `onAnswered` (the intake frees its place in the write queue). */
  bytes: number;
}

export class GroupCommit {
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private flushScheduled = false;
  private readonly columnNames: readonly string[];
  /** Start the next write before publishing the last (flush()). */
  private readonly overlap: boolean;
  /** Called after each committed batch with its number of events (e.g. to wake the alert worker). */
  onCommit: ((events: number) => void) | null = null;
  /** Called once per message when it has been answered, with its `bytes` (set by the intake). */
  onAnswered: (bytes: number) => void = () => undefined;

  constructor(
    private readonly entry: string,
    private readonly store: Store,
    private readonly publish: (events: BusEvent[]) => void,
    private readonly log: Logger,
    /** Counted once per batch (commits, messages, duration): never per message. */
    private readonly stats: HandlerStats | null = null,
  ) {
    this.columnNames = [...store.columns.keys()];
    this.overlap = store.client !== 'sqlite';
  }

  enqueue(p: Pending): void {
    this.queue.push(p);
    this.schedule();
  }

  /** Everything enqueued during this turn commits in one transaction, on the next. */
  private schedule(): void {
    if (this.flushScheduled || this.flushing) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  /** Resolves when every message enqueued so far has been committed and published. */
  async drained(): Promise<void> {
    while (this.queue.length || this.flushing || this.flushScheduled) await (this.flushing ?? new Promise<void>((r) => setImmediate(r)));
  }

  /**
   * Commits queued messages in batches, then publishes each batch in commit order and answers its senders.
   *
   * On a database in another process (PostgreSQL, MySQL) the next batch's write is started as soon as this one's
   * outcome is known, before this one is published and answered, so the database works while the server
   * broadcasts. Writes stay one at a time and in order (the Store contract), and each batch is still published
   * before the next one's outcome is looked at, so subscribers and senders see commit order as before. SQLite
   * writes in this process: starting the next write first would only delay this batch's delivery.
   */
  private flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = (async () => {
      let batch = this.take();
      let writing = batch && this.writeBatch(batch);
      while (batch && writing) {
        const outcome = await writing;
        let next = this.overlap ? this.take() : null;
        let nextWriting = next && this.writeBatch(next);
        this.finish(batch, outcome);
        if (!next) {
          next = this.take();
          nextWriting = next && this.writeBatch(next);
        }
        batch = next;
        writing = nextWriting;
      }
    })().finally(() => {
      this.flushing = null;
      // A reply may have led its sender to send the next message while this flush was ending (an HTTP body's
      // items go one after another): it must not wait for a flush that nothing schedules.
      if (this.queue.length) this.schedule();
    });
    return this.flushing;
  }

  /** The next batch from the queue (at most MAX_BATCH), or null when it is empty. */
  private take(): Pending[] | null {
    return this.queue.length ? this.queue.splice(0, MAX_BATCH) : null;
  }

  /** Writes one batch; never rejects (a store that throws refuses every request of the batch). */
  private async writeBatch(batch: Pending[]): Promise<{ results: WriteResult[]; wrote: boolean; started: number }> {
    const started = performance.now();
    try {
      return { results: await this.store.write(batch.map((p) => p.prepared.req)), wrote: true, started };
    } catch (err) {
      if (this.stats) this.stats.commitFailures++;
      // A store that throws instead of answering per request: every message of the batch was refused, and
      // each is still answered, so senders hear of it and shutdown does not wait for them.
      this.log('error', `url:${this.entry}: write failed`, err);
      const e = err instanceof MhError ? err : new MhError('MH_ERR_STORE_FAILED', ['the write failed'], { cause: err });
      return { results: batch.map(() => ({ ok: false, error: e })), wrote: false, started };
    }
  }

  /** Publishes a written batch's events in commit order, then answers each of its senders. */
  private finish(batch: Pending[], { results, wrote, started }: { results: WriteResult[]; wrote: boolean; started: number }): void {
    const events: BusEvent[] = [];
    for (let i = 0; i < batch.length; i++) {
      const r = results[i]!;
      if (!r.ok) continue;
      const frame = batch[i]!.prepared.frame;
      // A POST's frame carries the whole new row (column defaults included), like its history row will; a
      // column the frame leaves out on purpose (`modify` removed it) stays out.
      if (r.event.method === 'POST') {
        const omitted = batch[i]!.prepared.omitted;
        for (const c of this.columnNames) if (!(c in frame) && !omitted?.has(c)) frame[c] = r.event.after![c];
      }
      frame._seq = r.event.seq;
      // The pipeline checked the frame (depth, text) before the commit, so serializing it cannot fail.
      events.push({ entry: this.entry, event: r.event, frame });
    }
    const st = this.stats;
    if (st && wrote) {
      st.commits++;
      st.committed += events.length;
      st.observeCommit?.((performance.now() - started) / 1000, events.length);
    }
    if (events.length) this.publish(events);
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      const r = results[i]!;
      // Not logged here when refused: the store logged the driver's detail, once per kind a minute.
      if (r.ok) p.reply.committed(r.event, p.prepared.frame);
      else p.reply.refused(r.error);
      this.onAnswered(p.bytes);
    }
    if (events.length) this.onCommit?.(events.length);
  }
}
