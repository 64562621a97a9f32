/**
 * @module bus/bus
 * The Bus: what carries committed events from the process that committed them to every hub that may have
 * subscribers for them (in this process today; on every node once a shared bus such as Redis is configured).
 *
 * Contract, for every implementation (test/bus/conformance.ts checks it):
 * - **What is published**: one `BusBatch` per commit and table: the table's key (`Store.key`, the database and
 *   table), then its events in `_seq` order, each with the url entry that committed it and the frame that entry's
 *   subscribers hear (after `modify`). Direct messages (`_direct`, `seq` 0) travel the same way, without a `_seq`.
 * - **Delivery**: `publish` never throws and never waits; every subscriber of the table may be handed the batch
 *   later, in this process or another. Batches of different tables are independent.
 * - **What a bus may do**: lose a batch, deliver it twice, or deliver batches out of order. A bus is not trusted
 *   with order or completeness: the `TableFeed` (bus/feed.ts) in front of each table's hubs detects a gap by `_seq`,
 *   fills it from the Store's event record, and drops what it already delivered, so subscribers never see a hole,
 *   a duplicate or a reordering. What a bus owes is only what it says in `reliable`.
 * - **`reliable: true`** (the local bus): every batch is delivered once, in publish order, synchronously inside
 *   `publish`. A feed then never has to look at the store for a gap its own process made. `false`: the feed also
 *   polls the store's committed sequence now and then (`TableFeed.sync`), because a lost LAST batch leaves no
 *   later `_seq` behind it to reveal the gap.
 * - Direct messages have no `_seq` and no record behind them: lost on an unreliable bus, they are gone.
 */
import type { StoredEvent } from '../store/store.js';
import type { Row } from '../types.js';

/** One committed event on its way to the hubs. */
export interface BusEvent {
  /** The url entry whose pipeline committed it (its `modify` made `frame`). */
  readonly entry: string;
  readonly event: StoredEvent;
  /** What that entry's subscribers hear (`_seq` included for stored events). */
  readonly frame: Row;
}

/** Everything one commit did to one table, in `_seq` order (or one direct message, seq 0). */
export interface BusBatch {
  /** `Store.key`: the database and table the events belong to. */
  readonly table: string;
  readonly events: readonly BusEvent[];
}

export interface Bus {
  /** See the module comment: `true` only for a bus that delivers every batch once, in order, synchronously. */
  readonly reliable: boolean;
  /** Hands a committed batch to every subscriber of its table (here and on other nodes). Never throws. */
  publish(batch: BusBatch): void;
  /** Calls `deliver` with the batches of `table`; returns the function that stops it. `deliver` must not throw. */
  subscribe(table: string, deliver: (batch: BusBatch) => void): () => void;
  /** Stops delivering and releases connections. */
  close(): Promise<void>;
}
