/**
 * @module ops/view
 * What the operations modules (metrics, readiness, status) read of a running MessageService: its live objects,
 * not copies. The service builds it (`MessageService.opsView`); nothing here changes anything.
 */
import type { Bus } from '../bus/bus.js';
import type { TableFeed } from '../bus/feed.js';
import type { MessageHandler } from '../core/handler.js';

export interface OpsHandler {
  /** The url entry's name: the `handler` label of every per-handler metric. */
  readonly name: string;
  readonly handler: MessageHandler;
  /** Open WebSockets of this entry. */
  websockets(): number;
  /** The feed in front of this entry's table (bus lag), if any. */
  readonly feed: TableFeed | null;
}

export interface OpsView {
  readonly handlers: readonly OpsHandler[];
  readonly bus: Bus;
  /** True once the service is closing (not ready any more). */
  closing(): boolean;
  /** When the service finished starting (ms since epoch). */
  readonly startedAt: number;
}

/** The entries whose databases hold an alert outbox: one per database (the first entry that alerts on it). */
export function outboxHandlers(view: OpsView): OpsHandler[] {
  const seen = new Set<string>();
  const out: OpsHandler[] = [];
  for (const h of view.handlers) {
    const c = h.handler.config;
    if (!c.alert || seen.has(c.db.key)) continue;
    seen.add(c.db.key);
    out.push(h);
  }
  return out;
}

/** The entries with a database of their own (one per distinct database and table: two entries may share one). */
export function storeHandlers(view: OpsView): OpsHandler[] {
  const seen = new Set<unknown>();
  const out: OpsHandler[] = [];
  for (const h of view.handlers) {
    if (seen.has(h.handler.store)) continue;
    seen.add(h.handler.store);
    out.push(h);
  }
  return out;
}

/** Resolves with `p`, or rejects after `ms` (a hung database must not hang a probe or a scrape). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
