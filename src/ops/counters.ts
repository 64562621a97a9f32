/**
 * @module ops/counters
 * The numbers the hot path counts, as plain integer fields on one object per url entry (`MessageHandler.stats`).
 * Nothing here knows prom-client: the metrics registry (ops/metrics.ts) reads these fields when it is scraped,
 * through `collect()` callbacks. So a delivery, a frame or a commit costs an integer add on an object the code
 * already holds, never a metrics-library call, a label lookup or an allocation; and an embedder who never asks
 * for metrics pays only those adds.
 *
 * Granularity, each chosen so the count is taken where the work is already batched:
 * - deliveries: the hub adds a group's member count once per matching group and event (not per subscriber);
 * - frames and bytes out: the WebSocket sink adds once per socket write (one write per socket per turn), SSE once
 *   per frame it writes (already one `write()` each);
 * - frames and bytes in: once per client frame, where the core receives it;
 * - commits: once per committed batch (one transaction), with its size and duration.
 *
 * Every field only grows, except the `*InProgress` gauges. Reads are racy by design (a scrape between two adds of
 * one batch sees half of it): metrics are sampled, not accounted.
 */

/** Counters of one url entry (a MessageHandler and its transports). */
export class HandlerStats {
  /** Client frames received (WebSocket messages) and their bytes on the wire. */
  framesIn = 0;
  bytesIn = 0;
  /** Frames written to subscribers (WebSocket, SSE) and their bytes, framing included. */
  framesOut = 0;
  bytesOut = 0;
  /** Socket writes (WebSocket: one per socket per turn, however many frames it carries). */
  writes = 0;
  /** Events handed to subscribers by the hub (an event to N matching subscribers counts N). */
  deliveries = 0;
  /** Committed batches (transactions), messages committed in them, and batches whose write failed as a whole. */
  commits = 0;
  committed = 0;
  commitFailures = 0;
  /** Subscribers closed because they read too slowly (MH_ERR_SLOW_CONSUMER). */
  slowConsumerCloses = 0;
  /** History replays (subscriptions and HTTP reads) running now. */
  replaysInProgress = 0;
  /** Refusals told to a client, by catalogued error code (a null-prototype map: codes are ours, never a client's). */
  readonly refused: Record<string, number> = Object.create(null) as Record<string, number>;
  /**
   * Called once per committed batch (not per message) with its duration in seconds and its size; set by the
   * metrics registry to its histograms, null when nobody asked for metrics.
   */
  observeCommit: ((seconds: number, messages: number) => void) | null = null;

  /** Counts one refusal told to a client. Error paths only. */
  refuse(code: string): void {
    this.refused[code] = (this.refused[code] ?? 0) + 1;
  }
}
