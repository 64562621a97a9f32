/**
 * A bus that does on purpose what bus/bus.ts allows any bus to do: it loses batches, delivers some twice and
 * delivers some late (after later ones), on loopback timers, deterministically from a seed. The Bus conformance
 * suite runs on it to show that the feed, not the bus, guarantees order and completeness.
 */
import type { Bus, BusBatch } from '../../src/bus/bus.js';

export class LossyBus implements Bus {
  readonly reliable = false;
  private readonly tables = new Map<string, Set<(batch: BusBatch) => void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private n = 0;
  readonly stats = { lost: 0, doubled: 0, late: 0 };

  constructor(private seed = 1) {}

  /** A small deterministic generator (mulberry32), so a failure can be replayed. */
  private random(): number {
    let t = (this.seed += 0x6d2b79f5);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  publish(batch: BusBatch): void {
    this.n++;
    const r = this.random();
    if (r < 0.25) {
      this.stats.lost++;
      return;
    }
    if (r < 0.5) {
      // Late: after whatever is published in the next few milliseconds.
      this.stats.late++;
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.deliver(batch);
      }, 1 + Math.floor(this.random() * 5));
      this.timers.add(t);
      return;
    }
    this.deliver(batch);
    if (r > 0.85) {
      this.stats.doubled++;
      this.deliver(batch);
    }
  }

  private deliver(batch: BusBatch): void {
    const subs = this.tables.get(batch.table);
    if (subs) for (const d of subs) d(batch);
  }

  subscribe(table: string, deliver: (batch: BusBatch) => void): () => void {
    let subs = this.tables.get(table);
    if (!subs) this.tables.set(table, (subs = new Set()));
    subs.add(deliver);
    return () => subs.delete(deliver);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.tables.clear();
  }
}
