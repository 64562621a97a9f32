/**
 * @module replay
 * What a connection receives before live events: the history snapshot, or — when it resumes with `_since=N`
 * (or is a durable subscriber) — exactly the events after N that match its filter, read from the event
 * record. Both are sent in pages, paced by the socket, so a 100k-row replay neither blocks the event loop
 * nor trips the slow-consumer limit, and both report the sequence number they reflect so the connection can
 * switch to live events with no gap and no duplicate.
 */
import { compilePredicate, projectRow, type Filter } from './filter/index.js';
import { matches } from './hub/hub.js';
import { rowJson } from './store/apply.js';
import type { Store, StoredEvent } from './store/store.js';
import { Payload, type Socket } from './transport/socket.js';
import type { Row } from './types.js';

/** Events read from the record per page when resuming. */
const EVENT_PAGE = 500;

/** Thrown inside a page callback to stop a replay whose socket closed. */
class SocketClosed extends Error {}

/** Keys a projected history row keeps. */
const HISTORY_KEEP = ['_seq'] as const;
const LIVE_KEEP = ['_method', 'id', '_seq'] as const;

/** Sends the history snapshot; returns the sequence number it reflects. */
export async function sendHistory(socket: Socket, store: Store, filter: Filter, limit: number): Promise<number> {
  try {
    return await store.replay(
      filter,
      limit,
      async (rows) => {
        if (!socket.isOpen) throw new SocketClosed();
        for (const row of rows) {
          // A history row goes to this socket alone: its JSON is handed over as text, framed with the rest.
          socket.sendText(rowJson(row) ?? JSON.stringify(filter.columns ? projectRow(row, filter, HISTORY_KEEP) : row), Number(row._seq));
          if (socket.backlogged) await socket.drained();
        }
        await socket.drained();
      },
      { json: true },
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
export async function sendEventsSince(socket: Socket, store: Store, filter: Filter, since: number, onSent?: (payload: Payload) => void): Promise<ResumeResult> {
  // The database's committed sequence, not this process's: another process may have committed since.
  const snapshot = await store.committedSeq();
  const oldest = await store.oldestSeq();
  if (since > snapshot || since < oldest - 1) return { ok: false, oldest, snapshot };
  const predicate = compilePredicate(filter);
  let cursor = since;
  while (cursor < snapshot) {
    if (!socket.isOpen) break;
    const events = await store.eventsSince(cursor, EVENT_PAGE);
    if (events.length === 0) break;
    // Sequence numbers are gapless: a jump means events were pruned under us. Start over from history.
    if (events[0]!.seq !== cursor + 1) return { ok: false, oldest: events[0]!.seq, snapshot };
    for (const event of events) {
      if (event.seq > snapshot) break;
      if (!matches(predicate, event)) continue;
      const frame = eventFrame(event);
      const payload = Payload.of(filter.columns ? projectRow(frame, filter, LIVE_KEEP) : frame, event.seq);
      socket.send(payload);
      onSent?.(payload);
      if (socket.backlogged) await socket.drained();
    }
    cursor = events[events.length - 1]!.seq;
    await socket.drained();
  }
  return { ok: true, snapshot };
}
