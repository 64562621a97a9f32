/**
 * @module ops/metrics
 * Prometheus metrics of one MessageService, with prom-client, in a Registry of its own (never prom-client's
 * global one: two services in one process must not collide, and an embedder's own metrics stay theirs).
 *
 * Cost on the hot path: none from this module. The numbers are counted as plain integers where the work is
 * already batched (ops/counters.ts, the hub, the sinks, the feed, the Redis bus) and copied into prom-client by
 * `collect()` callbacks when the registry is scraped. The two histograms are observed once per committed batch
 * (one transaction), never per message. The outbox gauge runs one `GROUP BY state` query per outbox database
 * per scrape, bounded in time. The list of metrics, with types and labels, is in docs/operations.md.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { countOutbox, OUTBOX_STATES } from '../alert/outbox.js';
import { RedisBus } from '../bus/redis.js';
import type { HandlerStats } from './counters.js';
import { outboxHandlers, within, type OpsHandler, type OpsView } from './view.js';

/** Commit durations (seconds): SQLite group commits take ~0.1–2 ms, PostgreSQL over a network 1–50 ms. */
const COMMIT_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Messages per commit: 1 when idle, up to the group commit's 1000 under load. */
const COMMIT_MESSAGES = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
/** How long a scrape waits for the outbox counts of one database. */
const OUTBOX_QUERY_MS = 2000;

export interface MetricsOptions {
  /** Also Node's process metrics (CPU, memory, event-loop lag, GC) with prom-client's defaults. The CLI turns it on. */
  processMetrics?: boolean;
}

/** A per-handler counter copied from a HandlerStats field (or another number) at scrape time. */
type Read = (h: OpsHandler) => number;

export class ServiceMetrics {
  readonly registry = new Registry();

  constructor(
    private readonly view: OpsView,
    options: MetricsOptions = {},
  ) {
    const reg = [this.registry];
    const handlers = view.handlers;
    const stat = (field: keyof Omit<HandlerStats, 'refused' | 'observeCommit' | 'refuse'>): Read => (h) => h.handler.stats[field];

    const perHandler = (kind: 'counter' | 'gauge', name: string, help: string, read: Read): void => {
      if (kind === 'gauge') {
        new Gauge({
          name,
          help,
          labelNames: ['handler'],
          registers: reg,
          collect() {
            for (const h of handlers) this.set({ handler: h.name }, read(h));
          },
        });
      } else {
        new Counter({
          name,
          help,
          labelNames: ['handler'],
          registers: reg,
          collect() {
            this.reset();
            for (const h of handlers) this.inc({ handler: h.name }, read(h));
          },
        });
      }
    };

    new Gauge({
      name: 'msghub_connections',
      help: 'Open client connections by transport (websocket; http: SSE streams and waiting long-polls)',
      labelNames: ['handler', 'transport'],
      registers: reg,
      collect() {
        for (const h of handlers) {
          const ws = h.websockets();
          this.set({ handler: h.name, transport: 'websocket' }, ws);
          this.set({ handler: h.name, transport: 'http' }, Math.max(0, h.handler.policy.connections.count() - ws));
        }
      },
    });
    perHandler('gauge', 'msghub_subscribers', 'Live subscribers (every transport)', (h) => h.handler.size);
    perHandler('counter', 'msghub_frames_received_total', 'Frames received from clients', stat('framesIn'));
    perHandler('counter', 'msghub_received_bytes_total', 'Bytes of frames received from clients', stat('bytesIn'));
    perHandler('counter', 'msghub_frames_sent_total', 'Frames written to subscribers (WebSocket and SSE)', stat('framesOut'));
    perHandler('counter', 'msghub_sent_bytes_total', 'Bytes written to subscribers, framing included (WebSocket and SSE)', stat('bytesOut'));
    perHandler('counter', 'msghub_socket_writes_total', 'Socket writes to subscribers (a WebSocket write carries every frame of its turn)', stat('writes'));
    perHandler('counter', 'msghub_deliveries_total', 'Events handed to subscribers (an event to N subscribers counts N)', (h) => h.handler.hub.deliveries);
    perHandler('counter', 'msghub_commits_total', 'Committed batches (one transaction each)', stat('commits'));
    perHandler('counter', 'msghub_committed_messages_total', 'Messages committed', stat('committed'));
    perHandler('counter', 'msghub_commit_failures_total', 'Batches whose transaction failed as a whole', stat('commitFailures'));
    perHandler('counter', 'msghub_slow_consumer_closes_total', 'Subscribers closed for reading too slowly (MH_ERR_SLOW_CONSUMER)', stat('slowConsumerCloses'));
    perHandler('gauge', 'msghub_replays_in_progress', 'History replays running now (subscriptions and HTTP reads)', stat('replaysInProgress'));
    perHandler('gauge', 'msghub_bus_lag_events', 'Committed events of the table not yet delivered to its subscribers here (waiting for a gap to be filled)', (h) => h.feed?.lag ?? 0);
    perHandler('counter', 'msghub_bus_gap_filled_events_total', 'Events the feed read from the store because the bus did not bring them (other processes, lost batches)', (h) => h.feed?.stats.filled ?? 0);

    new Counter({
      name: 'msghub_refused_total',
      help: 'Refusals told to clients (an _error frame, an HTTP error status, a refused handshake), by error code',
      labelNames: ['handler', 'code'],
      registers: reg,
      collect() {
        this.reset();
        for (const h of handlers) {
          const refused = h.handler.stats.refused;
          for (const code of Object.keys(refused)) this.inc({ handler: h.name, code }, refused[code]!);
        }
      },
    });

    const duration = new Histogram({
      name: 'msghub_commit_duration_seconds',
      help: 'Time to write one batch in one transaction',
      labelNames: ['handler'],
      buckets: COMMIT_SECONDS,
      registers: reg,
    });
    const size = new Histogram({
      name: 'msghub_commit_messages',
      help: 'Messages committed per batch',
      labelNames: ['handler'],
      buckets: COMMIT_MESSAGES,
      registers: reg,
    });
    for (const h of handlers) {
      // Bound once: an observation is then two bucket searches, once per committed batch.
      const d = duration.labels({ handler: h.name });
      const s = size.labels({ handler: h.name });
      h.handler.stats.observeCommit = (seconds, messages) => {
        d.observe(seconds);
        s.observe(messages);
      };
    }

    const bus = view.bus;
    new Gauge({
      name: 'msghub_bus_connected',
      help: 'Whether the bus is connected (1; the local bus always is) or not (0)',
      labelNames: ['bus'],
      registers: reg,
      collect() {
        this.set({ bus: bus instanceof RedisBus ? 'redis' : 'local' }, bus instanceof RedisBus ? Number(bus.connected) : 1);
      },
    });
    if (bus instanceof RedisBus) {
      new Counter({
        name: 'msghub_bus_batches_total',
        help: 'Batches on the Redis bus: sent, unsent (disconnected, backlog, too large), received from other nodes, rejected as malformed',
        labelNames: ['outcome'],
        registers: reg,
        collect() {
          this.reset();
          for (const outcome of ['sent', 'unsent', 'received', 'rejected'] as const) this.inc({ outcome }, bus.stats[outcome]);
        },
      });
    }

    const outboxes = outboxHandlers(view);
    if (outboxes.length) {
      new Gauge({
        name: 'msghub_outbox_alerts',
        help: 'Alerts in the outbox by state (summed over the databases that hold one)',
        labelNames: ['state'],
        registers: reg,
        async collect() {
          const totals: Record<string, number> = Object.create(null) as Record<string, number>;
          for (const state of OUTBOX_STATES) totals[state] = 0;
          await Promise.all(
            outboxes.map(async (h) => {
              // A database that does not answer leaves its counts out of this scrape rather than hang it.
              const counts = await within(countOutbox(h.handler.store.knex()), OUTBOX_QUERY_MS, 'outbox').catch(() => null);
              if (counts) for (const state of OUTBOX_STATES) totals[state]! += counts[state];
            }),
          );
          for (const state of OUTBOX_STATES) this.set({ state }, totals[state]!);
        },
      });
    }

    if (options.processMetrics) {
      collectDefaultMetrics({ register: this.registry, prefix: 'msghub_' });
      // These four list every handle and resource of the process on each scrape (process._getActiveHandles()):
      // O(connections), about half of a scrape's CPU with thousands of WebSockets (docs/performance.md), to say
      // what msghub_connections already counts in O(1). process_open_fds stays: O(descriptors) too, but it is the
      // one signal of a descriptor leak.
      for (const name of ['nodejs_active_handles', 'nodejs_active_handles_total', 'nodejs_active_resources', 'nodejs_active_resources_total']) {
        this.registry.removeSingleMetric(`msghub_${name}`);
      }
    }
  }

  /** The Prometheus text exposition format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Stops observing commits (the service closed). */
  detach(): void {
    for (const h of this.view.handlers) h.handler.stats.observeCommit = null;
  }
}
