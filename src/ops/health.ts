/**
 * @module ops/health
 * Liveness, readiness and status of one MessageService, as plain objects (ops/http.ts serves them).
 *
 * - Liveness (`/healthz`): the process answers. Nothing is checked: a probe that restarts the process when a
 *   database is down would only add a restart to the outage.
 * - Readiness (`/readyz`): the service finished starting (every table created or migrated, which `start`
 *   does before it resolves) and is not shutting down, every database answers one cheap query
 *   (`Store.ping`) within `timeoutMs`, and the bus is connected (the local bus always is). Checks are named by
 *   url entry, never by database URL: a readiness body is no place for host names or users.
 * - Status: handlers, connections, the last `_seq` of each table, outbox counts, bus state.
 */
import { countOutbox, type OutboxState } from '../alert/outbox.js';
import { RedisBus, type RedisBusStats } from '../bus/redis.js';
import { MhError } from '../errors.js';
import { outboxHandlers, storeHandlers, within, type OpsView } from './view.js';

/** How long readiness waits for a database's answer (ms): a load balancer's probe usually times out at 1–5 s. */
export const READY_TIMEOUT_MS = 2000;

export interface ReadyCheck {
  /** `service`, `database:<url entry>` (the first entry on that table), or `bus`. */
  name: string;
  ok: boolean;
  /** Why not, when not. */
  detail?: string;
}

export interface Readiness {
  ready: boolean;
  checks: ReadyCheck[];
}

export async function readiness(view: OpsView, timeoutMs = READY_TIMEOUT_MS): Promise<Readiness> {
  const checks: ReadyCheck[] = [];
  const closing = view.closing();
  checks.push(closing ? { name: 'service', ok: false, detail: 'shutting down' } : { name: 'service', ok: true });
  const dbs = await Promise.all(
    storeHandlers(view).map(async (h): Promise<ReadyCheck> => {
      const name = `database:${h.name}`;
      if (closing) return { name, ok: false, detail: 'shutting down' };
      try {
        await within(h.handler.store.ping(), timeoutMs, 'the database');
        return { name, ok: true };
      } catch (err) {
        return { name, ok: false, detail: oneLine(err) };
      }
    }),
  );
  checks.push(...dbs);
  const bus = view.bus;
  if (bus instanceof RedisBus) checks.push(bus.connected ? { name: 'bus', ok: true } : { name: 'bus', ok: false, detail: 'Redis is not connected' });
  else checks.push({ name: 'bus', ok: true });
  return { ready: checks.every((c) => c.ok), checks };
}

export interface HandlerStatus {
  name: string;
  pattern: string;
  table: string;
  /** sqlite, pg or mysql: never the URL. */
  database: string;
  connections: { websocket: number; http: number };
  subscribers: number;
  /** The table's highest committed `_seq` (read from the database; null when it did not answer). */
  last_seq: number | null;
  /** Committed events not yet delivered here (waiting for a gap fill). */
  bus_lag: number;
  messages_committed: number;
  refused: Record<string, number>;
}

export interface ServiceStatus {
  uptime_s: number;
  ready: boolean;
  handlers: HandlerStatus[];
  /** Alerts by state, summed over the databases that hold an outbox; null without alerts. */
  outbox: Record<OutboxState, number> | null;
  bus: { kind: 'local' | 'redis'; connected: boolean; stats?: RedisBusStats };
}

export async function status(view: OpsView, timeoutMs = READY_TIMEOUT_MS): Promise<ServiceStatus> {
  const handlers = await Promise.all(
    view.handlers.map(async (h): Promise<HandlerStatus> => {
      const c = h.handler.config;
      const ws = h.websockets();
      const seq = await within(h.handler.store.committedSeq(), timeoutMs, 'the database').catch(() => null);
      return {
        name: h.name,
        pattern: c.pattern ?? '',
        table: c.table,
        database: c.db.client,
        connections: { websocket: ws, http: Math.max(0, h.handler.policy.connections.count() - ws) },
        subscribers: h.handler.size,
        last_seq: seq,
        bus_lag: h.feed?.lag ?? 0,
        messages_committed: h.handler.stats.committed,
        refused: { ...h.handler.stats.refused },
      };
    }),
  );
  let outbox: ServiceStatus['outbox'] = null;
  for (const h of outboxHandlers(view)) {
    const counts = await within(countOutbox(h.handler.store.knex()), timeoutMs, 'the outbox').catch(() => null);
    if (!counts) continue;
    outbox ??= { pending: 0, sending: 0, sent: 0, dead: 0 };
    for (const k of Object.keys(counts) as OutboxState[]) outbox[k] += counts[k];
  }
  const bus = view.bus;
  const ready = (await readiness(view, timeoutMs)).ready;
  return {
    uptime_s: Math.round((Date.now() - view.startedAt) / 1000),
    ready,
    handlers,
    outbox,
    bus: bus instanceof RedisBus ? { kind: 'redis', connected: bus.connected, stats: { ...bus.stats } } : { kind: 'local', connected: true },
  };
}

/**
 * What a failed check says: the catalogued code, or that it timed out. Never the driver's message, which may
 * name hosts, ports or users, and /readyz usually sits on the public port.
 */
function oneLine(err: unknown): string {
  if (err instanceof MhError) return err.code;
  if (err instanceof Error && err.message.includes('no answer within')) return 'no answer in time';
  return 'failed';
}
