/**
 * @module hub/hub
 * Live fan-out for one url entry.
 *
 * Subscribers with identical filters share a group, so each distinct filter is evaluated once per event and
 * each distinct projection (`_c`) is serialized once per event: the per-message cost grows with the number of
 * distinct filters, not with the number of subscribers. Delivery order is publish order, which the handler
 * guarantees is commit order.
 *
 * Matching (ARCHITECTURE decision 4): POST matches on the new row; PUT on the row before OR after the change
 * (so a subscriber sees a row enter, change within, or leave its view); DELETE on the row before. A subscriber
 * never hears of rows it cannot see.
 */
import { compilePredicate, filterKey, projectRow, type Filter, type Predicate } from '../filter/index.js';
import type { StoredEvent } from '../store/store.js';
import { msghubCodec } from '../protocol/msghub.js';
import type { Codec } from '../protocol/codec.js';
import { Payload } from '../transport/sink.js';
import type { Row } from '../types.js';

/** Keys a live frame keeps whatever the `_c` projection says. */
export const LIVE_KEEP = ['_method', 'id', '_seq'] as const;

/** What the hub delivers to: a subscriber, whatever its transport and protocol. */
export interface Member {
  readonly filter: Filter;
  /** The wire protocol its events are encoded in; members of one codec share each event's text. */
  readonly codec: Codec;
  /** Called in publish order. Must not throw (a subscriber's failure must not reach the publisher). */
  deliver(payload: Payload, event: StoredEvent): void;
}

interface Group {
  /** The group's filterKey (and codec): members hold this one string, not a copy each (20,000 idle sockets add up). */
  readonly key: string;
  readonly filter: Filter;
  readonly predicate: Predicate;
  readonly members: Set<Member>;
  readonly codec: Codec;
  /**
   * Projection and codec: groups with the same `_c` list and codec share the same payload for an event. '' for
   * the common case (msghub's codec, no projection), which needs no map.
   */
  readonly projection: string;
}

/** Filter keys by filter object: connections that share a parsed filter (see MessageHandler) compute it once. */
const keys = new WeakMap<Filter, string>();

function keyOf(filter: Filter): string {
  let key = keys.get(filter);
  if (key === undefined) keys.set(filter, (key = filterKey(filter)));
  return key;
}

export class Hub {
  private readonly groups = new Map<string, Group>();
  /**
   * Transports that queue frames for a turn-end flush (the ws transport) register here (`onBatch`) to be told when
   * a run of committed events has been published. A committed batch is published in one synchronous loop, so one
   * microtask after its first event runs right after its last: its frames go out in the same event-loop turn as
   * its commit, instead of waiting one more loop iteration for the transport's setImmediate. Events without a
   * sequence number (direct messages, published one per incoming frame) keep the per-turn coalescing: flushing
   * after each of them would cost one write per subscriber per message.
   */
  private readonly batchHooks: (() => void)[] = [];
  private batchQueued = false;
  private readonly runBatchHooks = (): void => {
    this.batchQueued = false;
    for (const hook of this.batchHooks) hook();
  };

  /** Registers a function to call after each synchronous run of committed-event publishes. */
  onBatch(hook: () => void): void {
    if (!this.batchHooks.includes(hook)) this.batchHooks.push(hook);
  }

  /** Number of live subscribers (for limits and status). */
  get size(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.members.size;
    return n;
  }

  /** Adds a member; returns the function that removes it. */
  subscribe(sub: Member): () => void {
    const codec = sub.codec;
    const own = codec === msghubCodec;
    const key = own ? keyOf(sub.filter) : `${keyOf(sub.filter)}\u0000${codec.name}`;
    let group = this.groups.get(key);
    if (!group) {
      const columns = sub.filter.columns ? sub.filter.columns.join('\u0000') : '';
      group = {
        key,
        filter: sub.filter,
        predicate: compilePredicate(sub.filter),
        members: new Set(),
        codec,
        projection: own && columns === '' ? '' : `${codec.name}\u0001${columns}`,
      };
      this.groups.set(key, group);
    }
    group.members.add(sub);
    const g = group;
    return () => {
      g.members.delete(sub);
      if (g.members.size === 0 && this.groups.get(g.key) === g) this.groups.delete(g.key);
    };
  }

  /**
   * Sends `frame` (the broadcast form of the event) to every subscriber whose filter matches the event's row.
   * The frame is serialized at most once per distinct projection.
   */
  publish(event: StoredEvent, frame: Row): void {
    if (event.seq > 0 && !this.batchQueued && this.batchHooks.length > 0) {
      this.batchQueued = true;
      queueMicrotask(this.runBatchHooks);
    }
    let full: Payload | undefined;
    let projected: Map<string, Payload> | undefined;
    for (const group of this.groups.values()) {
      if (!matches(group.predicate, event)) continue;
      let payload: Payload;
      if (group.projection === '') {
        payload = full ??= Payload.of(frame, event.seq);
      } else {
        projected ??= new Map();
        let p = projected.get(group.projection);
        if (!p) {
          p = new Payload(group.codec.event(group.filter.columns ? projectRow(frame, group.filter, LIVE_KEEP) : frame), event.seq);
          projected.set(group.projection, p);
        }
        payload = p;
      }
      for (const sub of group.members) sub.deliver(payload, event);
    }
  }
}

/** Whether an event concerns a row the predicate accepts (before or after the change). */
export function matches(predicate: Predicate, event: StoredEvent): boolean {
  return (event.after !== null && predicate(event.after)) || (event.before !== null && predicate(event.before));
}
