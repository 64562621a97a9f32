/**
 * @module filter/budget
 * How much live-filter work a handler has taken on, and the refusal of a subscription that would take it past
 * its bound.
 *
 * Cost model (measured: docs/filters.md § Limits). The hub runs one predicate per distinct filter per event.
 * Equality (a Set lookup), numeric, boolean and NULL tests cost about the same whatever the row holds; a text
 * ordering comparison is bounded by its value's length (`max_filter_needle`). What grows with the message is a
 * substring test: each value of a `~=`, `!~=`, `*=` or `!*=` condition searches the whole row value, and that
 * search costs the same per character of the row for a 1- or a 1000-character needle (V8 searches with
 * Boyer–Moore–Horspool, falling back to a linear-time search on adversarial needles). So a filter's work is its
 * number of such *scans*, and per event a handler's filters read at most `scans × message length` characters.
 * Filters are counted once per distinct filter (what the hub evaluates), however many subscribers share them.
 */

import { HANDLER_DEFAULTS } from '../config/defaults.js';
import { MhError } from '../errors.js';
import { filterGroups } from './groups.js';
import { indexable } from './indexable.js';
import { filterKey } from './key.js';
import { TEXT_OPS } from './operators.js';
import type { Filter } from './types.js';

/** Default bound on the scans of all distinct live filters of one handler (`max_filter_scans`). */
export const DEFAULT_MAX_FILTER_SCANS: number = HANDLER_DEFAULTS.max_filter_scans;

/**
 * The substring searches one event may cost this filter: one per value of a substring condition, in every
 * group (an any-of filter stops at the first group that passes, but a row that passes none runs them all).
 */
export function filterScans(filter: Filter): number {
  // A delimited-token filter is looked up in the hub's index, never scanned (filter/indexable.ts).
  if (indexable(filter)?.tokens) return 0;
  let scans = 0;
  for (const group of filterGroups(filter)) for (const c of group) if (TEXT_OPS.has(c.op)) scans += c.values.length;
  return scans;
}

/**
 * The comparisons a filter holds, bounded by `max_filter_args`: one per value of a condition (a condition with
 * no values, `null` / `notnull`, is one), in every group. Each is one test in SQL (an IN list entry, an OR-ed
 * instr()) and at most one in the predicate, so this bounds both the SQL's size and a row's work.
 */
export function filterComparisons(filter: Filter): number {
  let comparisons = 0;
  for (const group of filterGroups(filter)) for (const c of group) comparisons += Math.max(1, c.values.length);
  return comparisons;
}

/** Gives back what {@link FilterBudget.admit} took. Idempotent: a second call does nothing. */
export type Release = () => void;

interface Live {
  readonly scans: number;
  /** Admissions not yet released. */
  holders: number;
}

/**
 * The distinct live filters of one handler and the scans they cost per event. Not thread-safe (nothing in a
 * handler is): `admit` and the releases it returns run on the event loop.
 *
 * Contract: call {@link admit} once per live subscription, before subscribing it to the hub, and call the
 * returned release exactly when that subscription leaves the hub (a second call is harmless). A filter that
 * costs no scans is always admitted and never counted: it costs the same as any other group.
 */
export class FilterBudget {
  private readonly live = new Map<string, Live>();
  private total = 0;
  /** Filter keys by filter object: connections sharing one parsed (frozen) filter compute its key once. */
  private readonly keys = new WeakMap<Filter, string>();

  /** @param maxScans the bound on the sum of {@link filterScans} over distinct live filters (≥ 0). */
  constructor(readonly maxScans: number = DEFAULT_MAX_FILTER_SCANS) {}

  /** Scans per event the distinct live filters cost now. */
  get scans(): number {
    return this.total;
  }

  /** Number of distinct live filters that cost scans. */
  get filters(): number {
    return this.live.size;
  }

  /**
   * Admits a live subscription with this filter, or says why not (nothing is counted then):
   * - MH_ERR_FILTER_VALUE (400, close 4400) when the filter alone costs more than the whole budget: no retry
   *   can succeed, the client must narrow its filter;
   * - MH_ERR_FILTER_BUDGET (429, close 4429) when it is new and would take the handler past its bound: it may
   *   succeed once other subscribers leave, or with a filter that is already live (which costs nothing more).
   */
  admit(filter: Filter): Release | MhError {
    const scans = filterScans(filter);
    if (scans === 0) return noop;
    if (scans > this.maxScans) {
      return new MhError('MH_ERR_FILTER_VALUE', ['filter', `${scans} substring tests; the limit is ${this.maxScans} (max_filter_scans)`]);
    }
    let key = this.keys.get(filter);
    if (key === undefined) this.keys.set(filter, (key = filterKey(filter)));
    let entry = this.live.get(key);
    if (entry === undefined) {
      if (this.total + scans > this.maxScans) {
        return new MhError('MH_ERR_FILTER_BUDGET', [`${this.total} of ${this.maxScans} substring tests per event (max_filter_scans) are taken; this filter needs ${scans}`]);
      }
      entry = { scans, holders: 0 };
      this.live.set(key, entry);
      this.total += scans;
    }
    entry.holders++;
    const held = entry;
    const k = key;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--held.holders > 0) return;
      // Only the entry this admission counted: never one a later admission created under the same key.
      if (this.live.get(k) === held) {
        this.live.delete(k);
        this.total -= held.scans;
      }
    };
  }
}

const noop: Release = () => {};
