/**
 * @module bus/local
 * The in-process bus (the default, `bus: local`): a batch is handed to this process's subscribers of its table
 * synchronously, inside `publish`, so a commit's frames go out in the same event-loop turn as before there was a
 * bus. Reliable in the sense of bus/bus.ts: once, in order. Other processes on the same database do not hear it;
 * their feeds find those events as gaps in `_seq` and read them from the store.
 */
import type { Bus, BusBatch } from './bus.js';

export class LocalBus implements Bus {
  readonly reliable = true;
  private readonly tables = new Map<string, Set<(batch: BusBatch) => void>>();

  publish(batch: BusBatch): void {
    const subs = this.tables.get(batch.table);
    if (subs) for (const deliver of subs) deliver(batch);
  }

  subscribe(table: string, deliver: (batch: BusBatch) => void): () => void {
    let subs = this.tables.get(table);
    if (!subs) this.tables.set(table, (subs = new Set()));
    subs.add(deliver);
    return () => {
      subs.delete(deliver);
      if (subs.size === 0 && this.tables.get(table) === subs) this.tables.delete(table);
    };
  }

  async close(): Promise<void> {
    this.tables.clear();
  }
}
