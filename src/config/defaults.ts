/**
 * @module config/defaults
 * Every default msghub applies, in one place, with its unit. Docs (docs/configuration.md) mirror this object.
 */
export const HANDLER_DEFAULTS = {
  /** Rows sent on open, at most. Gramex sends the whole table; we bound it so a big table cannot stall a server. */
  history_limit: 1000,
  /** Largest client frame or HTTP body, in bytes (64 KiB). Larger WebSocket frames close the socket with 1009. */
  max_message_bytes: 64 * 1024,
  /** Bytes a subscriber may have waiting to be sent before it is closed as a slow consumer (4 MiB). */
  max_buffered_bytes: 4 * 1024 * 1024,
  /** Who may PUT/DELETE a row whose `user` is set: `owner` (that user only) or `any`. */
  edit: 'owner' as 'owner' | 'any',
  /** Most filter conditions one subscription may have. */
  max_filter_args: 64,
  /** Longest value (characters) of a substring (`~=`, `*=`, …) or text ordering filter condition. */
  max_filter_needle: 1000,
  /** Most substring tests per event, summed over a handler's distinct live subscription filters. */
  max_filter_scans: 64,
  /** How long a message may wait for an async app-module function in a hook before it is refused (10 s). */
  hook_timeout_ms: 10_000,
  /** Durable delivery: an event not acknowledged within this many seconds is sent again. */
  ack_timeout: 30,
  replay_stall_timeout: 15,
  /**
   * The event record (what `_since` can resume from) keeps at most `count` events and none older than `age` seconds
   * (7 days); idempotency records (a retried `idem:` `_ref` or `Idempotency-Key`) are kept `idempotency` seconds (24 h).
   */
  retention: { count: 100_000, age: 7 * 24 * 3600, idempotency: 24 * 3600 },
} as const;

export const SERVER_DEFAULTS = {
  port: 9988,
  host: '127.0.0.1',
  /** Interval between WebSocket pings; a peer that misses one is dropped (30 s). */
  ping_interval_ms: 30_000,
  /** Interval between SSE keep-alive comments (15 s): shorter than common proxy idle timeouts. */
  sse_keepalive_ms: 15_000,
  /** How long shutdown waits for accepted messages to commit before giving up (10 s). */
  shutdown_timeout_ms: 10_000,
  /** Which hops may name the client in X-Forwarded-For (auth/proxy.ts): none; the TCP peer is the client. */
  trust_proxy: false,
} as const;
