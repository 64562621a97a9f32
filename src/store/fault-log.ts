/**
 * @module store/fault-log
 * Logs database faults without letting a client flood the log: per kind of fault, the first occurrence in a
 * window is logged with its detail; later ones in the same window are only counted, and the count rides on the
 * next line logged for that kind. A client that sends a too-long value 1000 times a second costs one line a
 * minute, yet the operator still sees that it keeps happening and how often.
 */
import type { Logger, LogLevel } from '../log.js';

/** Default window: one line per kind of fault per minute. */
export const FAULT_LOG_WINDOW_MS = 60_000;
/** Kinds tracked at once; beyond it, new kinds share one entry (kinds come from driver codes: few in practice). */
const MAX_KINDS = 64;
/** Characters of driver detail logged: a driver message may quote a whole 64 KiB value. */
const MAX_DETAIL = 500;
const OTHER = '(other)';

interface Entry {
  /** When the last logged line for this kind was written. */
  loggedAt: number;
  /** Occurrences since then that were not logged. */
  suppressed: number;
}

export class FaultLog {
  readonly #kinds = new Map<string, Entry>();

  constructor(
    private readonly log: Logger,
    private readonly windowMs = FAULT_LOG_WINDOW_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Records one fault of `kind`. Logs `message` with `detail` (cut to a few hundred characters, no stack) if
   * this kind was not logged in the last window, else counts it.
   */
  report(level: LogLevel, kind: string, message: string, detail: string): void {
    const key = this.#kinds.has(kind) || this.#kinds.size < MAX_KINDS ? kind : OTHER;
    const entry = this.#kinds.get(key);
    const t = this.now();
    if (entry && t - entry.loggedAt < this.windowMs) {
      entry.suppressed++;
      return;
    }
    const more = entry?.suppressed ? ` (and ${entry.suppressed} more like it since ${new Date(entry.loggedAt).toISOString()})` : '';
    const text = detail.length > MAX_DETAIL ? `${detail.slice(0, MAX_DETAIL)}…` : detail;
    this.log(level, `${message}${more}: ${text}`);
    this.#kinds.set(key, { loggedAt: t, suppressed: 0 });
  }
}
