/**
 * @module bus/feed
 * A table's feed: the one place between the bus and this process's hubs for that table. It hands the hubs every
 * committed event of the table exactly once, in `_seq` order, whatever the bus did (see bus/bus.ts):
 *
 * - an event whose `_seq` was already delivered is a duplicate: dropped;
 * - an event past the next expected `_seq` waits, and the gap before it is filled from the store's event record
 *   (at once on a reliable bus, where a gap can only be another process's commits; after `fillDelayMs` on an
 *   unreliable one, where the missing batch may just be late);
 * - `sync()` asks the store how far the table has committed and fills up to there: how a lost last batch is found.
 *
 * The sequence guarantee that makes a fill sound is the Store's: `_seq` is assigned in commit order, so when n+2
 * is committed, n+1 is committed and readable. An event filled from the record has no frame of its own: it is
 * sent as a resume sends it (`eventFrame`: the stored columns; no `modify`, no non-column keys) to every hub of
 * the table, since the record does not say which url entry wrote it.
 *
 * The fast path (the local bus, one process) is one comparison per event: no map, no promise.
 */
import type { Hub } from '../hub/hub.js';
import type { Logger } from '../log.js';
import { eventFrame } from '../hub/replay.js';
import type { Store, StoredEvent } from '../store/store.js';
import type { Row } from '../types.js';
import type { BusBatch, BusEvent } from './bus.js';

/** Events read from the record per fill query. */
const FILL_PAGE = 500;
/** Events kept while they wait for a gap in front of them to be filled; later ones are read from the store. */
const MAX_WAITING = 10_000;
/** After a failed fill (the store is down), the next try waits this long (ms). */
const FILL_RETRY_MS = 1000;

export interface TableFeedOptions {
  /** Unreliable buses: how long a gap may wait for a late batch before it is filled from the store (ms). */
  fillDelayMs?: number;
  /** Whether the bus delivers once, in order (see Bus.reliable). */
  reliable: boolean;
}

/** Counters for tests and status: how often the feed had to repair what the bus delivered. */
export interface FeedStats {
  delivered: number;
  duplicates: number;
  filled: number;
  /** Events dropped because the store never committed their `_seq`. */
  rejected: number;
}

export class TableFeed {
  /** The highest `_seq` handed to the hubs. */
  private delivered: number;
  /** The highest `_seq` heard of (from the bus, or the store's committed sequence): everything up to it is owed. */
  private highest: number;
  /** When a failed fill was last logged: at most once a minute (the store logs its own outages). */
  private fillErrorLoggedAt = 0;
  /** Events that arrived ahead of a gap, by `_seq`. */
  private readonly waiting = new Map<number, BusEvent>();
  private readonly hubs = new Map<string, Hub>();
  private filling: Promise<void> | null = null;
  private fillTimer: NodeJS.Timeout | null = null;
  private closed = false;
  readonly stats: FeedStats = { delivered: 0, duplicates: 0, filled: 0, rejected: 0 };

  /**
   * @param from the `_seq` every hub has already accounted for (the store's committed sequence when the hubs
   *     started: their subscribers' history and resumes are read from the store).
   */
  constructor(
    readonly table: string,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly options: TableFeedOptions,
    from: number,
  ) {
    this.delivered = from;
    this.highest = from;
  }

  /** The highest `_seq` delivered so far. */
  get position(): number {
    return this.delivered;
  }

  /**
   * How far the hubs are behind: events of this table known to be committed (heard of on the bus, or read from
   * the store's committed sequence) and not yet delivered, because they wait for a gap to be filled (metrics).
   */
  get lag(): number {
    return this.highest - this.delivered;
  }

  /** Delivers this table's events committed through url entry `entry` (and record-filled ones) to `hub`. */
  attach(entry: string, hub: Hub): () => void {
    this.hubs.set(entry, hub);
    return () => {
      if (this.hubs.get(entry) === hub) this.hubs.delete(entry);
    };
  }

  /** A batch from the bus. Never throws. */
  receive(batch: BusBatch): void {
    for (const e of batch.events) {
      const seq = e.event.seq;
      if (seq === 0) this.emit(e.entry, e.event, e.frame); // direct: no order, no record
      else if (seq === this.delivered + 1 && this.waiting.size === 0 && !this.filling) {
        this.delivered = seq;
        if (seq > this.highest) this.highest = seq;
        this.emit(e.entry, e.event, e.frame);
      } else if (seq <= this.delivered || this.waiting.has(seq)) this.stats.duplicates++;
      else {
        if (seq > this.highest) this.highest = seq;
        // Bounded: past MAX_WAITING (a store that stays down while other nodes keep committing), an event is not
        // kept; it is committed, so the fill reads it from the store (as a resume would send it).
        if (this.waiting.size < MAX_WAITING) this.waiting.set(seq, e);
      }
    }
    if (this.highest > this.delivered) this.release();
  }

  /** Fills every event the store has committed beyond what was delivered (a lost last batch, a reconnect). */
  async sync(): Promise<void> {
    if (this.closed) return;
    const committed = await this.store.committedSeq();
    if (committed > this.highest) this.highest = committed;
    while (!this.closed && this.delivered < committed) {
      const before = this.delivered;
      await (this.filling ?? this.fill(this.nextGapEnd()));
      if (this.delivered === before) break;
    }
  }

  close(): void {
    this.closed = true;
    if (this.fillTimer) clearTimeout(this.fillTimer);
    this.fillTimer = null;
    this.waiting.clear();
  }

  /** Delivers the waiting events that are next in line; schedules a fill for a gap in front of the rest. */
  private release(): void {
    if (this.filling) return;
    for (let next = this.waiting.get(this.delivered + 1); next; next = this.waiting.get(this.delivered + 1)) {
      this.waiting.delete(this.delivered + 1);
      this.delivered++;
      this.emit(next.entry, next.event, next.frame);
    }
    if (this.highest <= this.delivered || this.fillTimer) return;
    if (this.options.reliable) void this.fill(this.nextGapEnd());
    else {
      this.fillTimer = setTimeout(() => {
        this.fillTimer = null;
        if (this.highest > this.delivered) void this.fill(this.nextGapEnd());
      }, this.options.fillDelayMs ?? 50);
      this.fillTimer.unref();
    }
  }

  /** Forgets waiting events with a `_seq` the store never committed (they are not real), and what they owed. */
  private dropBeyond(committed: number): void {
    for (const seq of [...this.waiting.keys()]) {
      if (seq > committed) {
        this.waiting.delete(seq);
        this.stats.rejected++;
      }
    }
    if (this.highest > committed) this.highest = Math.max(committed, this.delivered);
  }

  /** Where the gap in front of the next waiting event ends (or, with none kept, the highest `_seq` heard of). */
  private nextGapEnd(): number {
    return this.waiting.size > 0 ? this.lowestWaiting() - 1 : this.highest;
  }

  private lowestWaiting(): number {
    let low = Infinity;
    for (const seq of this.waiting.keys()) if (seq < low) low = seq;
    return low;
  }

  /** Delivers every event up to `upTo` in order, from the waiting ones or else the store's record. */
  private fill(upTo: number): Promise<void> {
    if (this.filling) return this.filling;
    this.filling = (async () => {
      // First let `this.filling` be set: a body that finished at once would otherwise clear it before it is set.
      await null;
      try {
        while (!this.closed && this.delivered < upTo) {
          const events = await this.store.eventsSince(this.delivered, Math.min(FILL_PAGE, upTo - this.delivered));
          if (events.length === 0) {
            // Nothing after `delivered` in the record. Never skip past what the store has committed: a `_seq`
            // beyond it was never committed (a forged or foreign bus message), and skipping to it would silence
            // every real event below it.
            const committed = await this.store.committedSeq();
            const to = Math.min(upTo, committed);
            if (to > this.delivered) {
              this.log('warn', `bus: events ${this.delivered + 1}–${to} of ${this.table} are no longer in the event record; skipped`);
              this.delivered = to;
            }
            this.dropBeyond(committed);
            break;
          }
          if (events[0]!.seq > this.delivered + 1) {
            // The front of the gap was pruned by retention before it could be read: skip it, not the rest.
            const to = Math.min(upTo, events[0]!.seq - 1);
            this.log('warn', `bus: events ${this.delivered + 1}–${to} of ${this.table} are no longer in the event record; skipped`);
            this.delivered = to;
          }
          for (const event of events) {
            if (event.seq <= this.delivered || event.seq > upTo) continue;
            const own = this.waiting.get(event.seq);
            this.waiting.delete(event.seq);
            this.delivered = event.seq;
            if (own) this.emit(own.entry, own.event, own.frame);
            else {
              this.stats.filled++;
              this.emit(null, event, eventFrame(event));
            }
          }
        }
      } catch (err) {
        if (Date.now() - this.fillErrorLoggedAt > 60_000) {
          this.fillErrorLoggedAt = Date.now();
          this.log('error', `bus: filling a gap in ${this.table} from the store failed; retrying in ${FILL_RETRY_MS} ms`, err);
        }
        // Not at once: a store that is down would be asked in a tight loop.
        this.filling = null;
        if (!this.closed && !this.fillTimer) {
          this.fillTimer = setTimeout(() => {
            this.fillTimer = null;
            if (!this.closed && this.highest > this.delivered) void this.fill(this.nextGapEnd());
          }, FILL_RETRY_MS);
          this.fillTimer.unref();
        }
        return;
      }
      this.filling = null;
      if (!this.closed && this.highest > this.delivered) this.release();
    })();
    return this.filling;
  }

  private emit(entry: string | null, event: StoredEvent, frame: Row): void {
    if (event.seq > 0) this.stats.delivered++;
    if (entry !== null) {
      const hub = this.hubs.get(entry);
      if (hub) this.publishTo(hub, event, frame);
      return;
    }
    for (const hub of this.hubs.values()) this.publishTo(hub, event, frame);
  }

  private publishTo(hub: Hub, event: StoredEvent, frame: Row): void {
    try {
      hub.publish(event, frame);
    } catch (err) {
      // A hub isolates its subscribers; this is the last line, so one event cannot stop the feed.
      this.log('error', `bus: delivering ${this.table} event ${event.seq} failed`, err);
    }
  }
}
