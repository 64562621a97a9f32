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
 *
 * Directed filters are not scanned: they are indexed by column and value, so an event costs one map lookup per
 * indexed column instead of one predicate per connected client. Two shapes are indexed, each only where the
 * lookup gives exactly the predicate's answer (test/hub/index.test.ts checks it against the predicates):
 * - one equality on text values (`recipient=alice`: every x0 session, Texto client and chat widget): a string value
 *   matches only the identical string (filter/predicate.ts);
 * - one substring test for a delimited token (`recipients~=|alice|`: every SimpleBus user, whose messages list
 *   their recipients as `|alice|bob|`): `|t|`, where t holds no `|`, occurs in a text exactly when t is one of
 *   the text's `|`-separated segments other than the first and the last.
 */
import { compilePredicate, filterKey, projectRow, type Filter, type Predicate } from '../filter/index.js';
import { indexable } from '../filter/indexable.js';
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

/** Index: column → key → the groups that want that key in that column. */
type Index = Map<string, Map<string, Set<Group>>>;

export class Hub {
  private readonly groups = new Map<string, Group>();
  /** Groups whose filter is not indexable: each is tested against every event. */
  private readonly scanned = new Map<string, Group>();
  /** Groups with one text equality, by column and value. */
  private readonly index: Index = new Map();
  /** Groups with one delimited-token test, by column and token. */
  private readonly tokens: Index = new Map();
  /**
   * Events handed to members so far (an event to N matching members counts N), for metrics: added once per
   * matching group and event, never per member.
   */
  deliveries = 0;
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
      this.place(group, true);
    }
    group.members.add(sub);
    const g = group;
    return () => {
      g.members.delete(sub);
      if (g.members.size === 0 && this.groups.get(g.key) === g) {
        this.groups.delete(g.key);
        this.place(g, false);
      }
    };
  }

  /** Adds a new group to (or removes an empty one from) the index or the scanned list. */
  private place(group: Group, add: boolean): void {
    const idx = indexable(group.filter);
    if (!idx) {
      if (add) this.scanned.set(group.key, group);
      else this.scanned.delete(group.key);
      return;
    }
    const index = idx.tokens ? this.tokens : this.index;
    let byValue = index.get(idx.column);
    if (!byValue) {
      if (!add) return;
      index.set(idx.column, (byValue = new Map()));
    }
    for (const v of idx.keys) {
      let set = byValue.get(v);
      if (add) {
        if (!set) byValue.set(v, (set = new Set()));
        set.add(group);
      } else if (set) {
        set.delete(group);
        if (set.size === 0) byValue.delete(v);
      }
    }
    if (byValue.size === 0) index.delete(idx.column);
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
    const out: Out = { frame, event, full: undefined, projected: undefined };
    for (const group of this.scanned.values()) if (matches(group.predicate, event)) this.send(group, out);
    if (this.tokens.size > 0) this.publishTokens(out);
    if (this.index.size === 0) return;
    const { before, after } = event;
    for (const [column, byValue] of this.index) {
      const a = after?.[column];
      const b = before?.[column];
      const fromAfter = typeof a === 'string' ? byValue.get(a) : undefined;
      const fromBefore = typeof b === 'string' && b !== a ? byValue.get(b) : undefined;
      if (fromAfter) for (const group of fromAfter) this.send(group, out);
      // A PUT that moves a row between two values: a group that wants both hears it once.
      if (fromBefore) for (const group of fromBefore) if (!fromAfter?.has(group)) this.send(group, out);
    }
  }

  /** Delivers to the token-indexed groups whose token is a segment of the row's value (before or after). */
  private publishTokens(out: Out): void {
    const { before, after } = out.event;
    for (const [column, byToken] of this.tokens) {
      // A group may want several tokens, and the row may hold several (and before and after): each group once.
      let sent: Set<Group> | undefined;
      for (const row of [after, before]) {
        const v = row?.[column];
        if (typeof v !== 'string') continue;
        const segments = v.split('|');
        for (let i = 1; i < segments.length - 1; i++) {
          const groups = byToken.get(segments[i]!);
          if (!groups) continue;
          for (const group of groups) {
            if (sent?.has(group)) continue;
            (sent ??= new Set()).add(group);
            this.send(group, out);
          }
        }
      }
    }
  }

  /** Hands the event to every member of a matching group, encoding it at most once per projection and codec. */
  private send(group: Group, out: Out): void {
    const { frame, event } = out;
    let payload: Payload;
    if (group.projection === '') {
      payload = out.full ??= Payload.of(frame, event.seq);
    } else {
      const projected = (out.projected ??= new Map());
      let p = projected.get(group.projection);
      if (!p) {
        p = new Payload(group.codec.event(group.filter.columns ? projectRow(frame, group.filter, LIVE_KEEP) : frame), event.seq);
        projected.set(group.projection, p);
      }
      payload = p;
    }
    for (const sub of group.members) sub.deliver(payload, event);
    this.deliveries += group.members.size;
  }
}

/** One event being published: what its groups share (its payload, once per projection and codec). */
interface Out {
  readonly frame: Row;
  readonly event: StoredEvent;
  full: Payload | undefined;
  projected: Map<string, Payload> | undefined;
}

/** Whether an event concerns a row the predicate accepts (before or after the change). */
export function matches(predicate: Predicate, event: StoredEvent): boolean {
  return (event.after !== null && predicate(event.after)) || (event.before !== null && predicate(event.before));
}
