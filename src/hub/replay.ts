/**
 * @module hub/replay
 * What a connection receives before live events: the history snapshot, or — when it resumes with `_since=N`
 * (or is a durable subscriber) — exactly the events after N that match its filter, read from the event
 * record. Both are sent in pages, paced by the socket, so a 100k-row replay neither blocks the event loop
 * nor trips the slow-consumer limit, and both report the sequence number they reflect so the connection can
 * switch to live events with no gap and no duplicate.
 */
import { MhError } from '../errors.js';
import { compilePredicate, projectRow, type Filter } from '../filter/index.js';
import type { Codec } from '../protocol/codec.js';
import { msghubCodec } from '../protocol/msghub.js';
import type { Store, StoredEvent } from '../store/store.js';
import { Payload, type Sink } from '../transport/sink.js';
import type { Row } from '../types.js';
import { matches } from './hub.js';

/** Events read from the record per page when resuming. */
const EVENT_PAGE = 500;

/** Thrown inside a page callback to stop a replay whose socket closed. */
class SocketClosed extends Error {}

/** How long a history replay waits for its client to read before giving up (kwargs `replay_stall_timeout`). */
export const DEFAULT_REPLAY_STALL_MS = 15_000;

/**
 * Waits for the sink to drain, at most `ms`. A history replay holds one database snapshot (a pooled connection on
 * PostgreSQL and MySQL) while it waits: a client that stopped reading must not keep it, so the sink is closed with
 * MH_ERR_REPLAY_STALLED and the replay stops.
 */
async function drainedWithin(sink: Sink, ms: number, codec: Codec): Promise<void> {
  if (!sink.backlogged) return sink.drained();
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<true>((resolve) => (timer = setTimeout(resolve, ms, true)));
  const r = await Promise.race([sink.drained(), stalled]);
  clearTimeout(timer);
  if (r === true) {
    const e = new MhError('MH_ERR_REPLAY_STALLED', [String(ms / 1000)]);
    sink.sendText(codec.error(e), 0);
    sink.close(e.closeCode!, e.message);
    throw new SocketClosed();
  }
}

/** Keys a projected history row keeps. */
const HISTORY_KEEP = ['_seq'] as const;
const LIVE_KEEP = ['_method', 'id', '_seq'] as const;

/** Sends the history snapshot in the sink's protocol; returns the sequence number it reflects. */
export async function sendHistory(
  sink: Sink,
  store: Store,
  filter: Filter,
  limit: number,
  codec: Codec = msghubCodec,
  stallMs = DEFAULT_REPLAY_STALL_MS,
): Promise<number> {
  try {
    return await store.replay(
      filter,
      limit,
      async (rows) => {
        if (!sink.isOpen) throw new SocketClosed();
        for (const row of rows) {
          // A history row goes to this sink alone: its text is handed over as is, framed with the rest.
          sink.sendText(codec.history(filter.columns ? projectRow(row, filter, HISTORY_KEEP) : row), Number(row._seq));
          if (sink.backlogged) await drainedWithin(sink, stallMs, codec);
        }
        await drainedWithin(sink, stallMs, codec);
      },
      // Rows the store renders as msghub's JSON itself (store/apply.ts ROW_JSON): only for msghub's codec.
      { json: codec === msghubCodec },
    );
  } catch (err) {
    if (err instanceof SocketClosed) return store.lastSeq;
    throw err;
  }
}

/** The frame a stored event is replayed as (the stored columns; `modify` and non-column keys are not kept). */
export function eventFrame(event: StoredEvent): Row {
  if (event.method === 'DELETE') return { _method: 'DELETE', id: event.id, _seq: event.seq };
  const after = event.after!;
  const frame: Row = { _method: event.method, id: event.id };
  const keys = event.method === 'POST' ? Object.keys(after) : event.changed;
  for (const k of keys) if (k !== '_seq') frame[k] = after[k];
  frame._seq = event.seq;
  return frame;
}

export type ResumeResult = { ok: true; snapshot: number } | { ok: false; oldest: number; snapshot: number };

/**
 * Sends the events after `since` that match the filter, up to the current sequence number. Returns that
 * number, or `ok: false` when `since` is older than the event record keeps (or newer than any event): the
 * caller then says so and falls back to history.
 */
export async function sendEventsSince(
  sink: Sink,
  store: Store,
  filter: Filter,
  since: number,
  onSent?: (payload: Payload) => void,
  codec: Codec = msghubCodec,
): Promise<ResumeResult> {
  // The database's committed sequence, not this process's: another process may have committed since.
  const snapshot = await store.committedSeq();
  const oldest = await store.oldestSeq();
  if (since > snapshot || since < oldest - 1) return { ok: false, oldest, snapshot };
  const predicate = compilePredicate(filter);
  let cursor = since;
  while (cursor < snapshot) {
    if (!sink.isOpen) break;
    const events = await store.eventsSince(cursor, EVENT_PAGE);
    // Events up to the snapshot were committed: none left means they were pruned under us. Start over from history.
    if (events.length === 0) return { ok: false, oldest: await store.oldestSeq(), snapshot };
    // Sequence numbers are gapless: a jump means events were pruned under us. Start over from history.
    if (events[0]!.seq !== cursor + 1) return { ok: false, oldest: events[0]!.seq, snapshot };
    for (const event of events) {
      if (event.seq > snapshot) break;
      if (!matches(predicate, event)) continue;
      const frame = eventFrame(event);
      const payload = new Payload(codec.event(filter.columns ? projectRow(frame, filter, LIVE_KEEP) : frame), event.seq);
      sink.send(payload);
      onSent?.(payload);
      if (sink.backlogged) await sink.drained();
    }
    cursor = events[events.length - 1]!.seq;
    await sink.drained();
  }
  return { ok: true, snapshot };
}
