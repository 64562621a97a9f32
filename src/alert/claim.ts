/**
 * @module alert/claim
 * The outbox's state transitions, each one conditional UPDATE whose affected-row count says whether this
 * worker won. That is the whole concurrency story: two workers (or two processes) may read the same due rows,
 * but only one UPDATE flips a row to `sending`, on SQLite, PostgreSQL and MySQL alike, without locks held
 * across the SMTP conversation.
 */
import type { Knex } from 'knex';
import { OUTBOX_TABLE, isoAt } from './outbox.js';

/** A row this worker has claimed, with its lease as the ownership token. */
export interface ClaimedRow {
  id: string;
  handler: string;
  service: string;
  payload: string;
  createdAt: string;
  /** Attempts including this one. */
  attempts: number;
  /**
   * `lease_until` as this worker last wrote it (by the claim, then by each renewal): later updates require it, so
   * a worker that lost its lease changes nothing. Updated in place by {@link renewLease}.
   */
  lease: string;
}

/** A due row this worker retired instead of claiming (too old, or out of attempts after a crash). */
export interface RetiredRow {
  id: string;
  handler: string;
  service: string;
  attempts: number;
  reason: string;
}

/** Rows that may be taken now: pending and due, or sending with an expired lease (its worker died). */
/**
 * Only rows for email services this worker can send through. Another app sharing the database (with other
 * services) keeps its rows: we never burn its attempts on "no mailer" or send its mail through our server.
 */
function forServices(q: Knex.QueryBuilder, services: readonly string[] | undefined): Knex.QueryBuilder {
  return services ? q.whereIn('service', [...services]) : q;
}

function due(q: Knex.QueryBuilder, now: string): Knex.QueryBuilder {
  return q.where((w) => {
    w.where((p) => p.where('state', 'pending').andWhere('next_attempt_at', '<=', now)).orWhere((s) =>
      // A `sending` row without a lease can only come from a hand edit; treat it as abandoned, not as held forever.
      s.where('state', 'sending').andWhere((l) => l.where('lease_until', '<=', now).orWhereNull('lease_until')),
    );
  });
}

/**
 * Claims up to `limit` due rows. Rows older than `maxAgeMs`, and rows whose lease expired on their last allowed
 * attempt, are moved to `dead` instead and returned in `retired`. `seen` is how many due rows were looked at, so
 * the caller knows whether more may be waiting.
 */
export async function claimDue(
  knex: Knex,
  opts: { limit: number; leaseMs: number; maxAgeMs: number; maxAttempts: number; services?: readonly string[] },
): Promise<{ claimed: ClaimedRow[]; retired: RetiredRow[]; seen: number }> {
  const now = Date.now();
  const nowIso = isoAt(0, now);
  const candidates: Record<string, unknown>[] = await forServices(due(knex(OUTBOX_TABLE), nowIso), opts.services)
    .select('id', 'handler', 'service', 'payload', 'created_at', 'attempts', 'state')
    .orderBy('next_attempt_at')
    .limit(opts.limit);
  const claimed: ClaimedRow[] = [];
  const retired: RetiredRow[] = [];
  const tooOld = isoAt(-opts.maxAgeMs, now);
  for (const c of candidates) {
    const id = String(c.id);
    const attempts = Number(c.attempts);
    const base = { id, handler: String(c.handler), service: String(c.service), attempts };
    let reason: string | null = null;
    if (String(c.created_at) < tooOld) reason = `older than maxAgeMs (${opts.maxAgeMs} ms)`;
    else if (c.state === 'sending' && attempts >= opts.maxAttempts) {
      reason = `worker lost during final attempt ${attempts}; the mail may or may not have been delivered`;
    }
    if (reason) {
      const n = await due(knex(OUTBOX_TABLE).where('id', id), nowIso).update({ state: 'dead', lease_until: null, last_error: reason });
      if (n === 1) retired.push({ ...base, reason });
      continue;
    }
    const lease = isoAt(opts.leaseMs, now);
    const n = await due(knex(OUTBOX_TABLE).where('id', id), nowIso).update({
      state: 'sending',
      lease_until: lease,
      attempts: knex.raw('?? + 1', ['attempts']),
    });
    if (n === 1) claimed.push({ ...base, payload: String(c.payload), createdAt: String(c.created_at), attempts: attempts + 1, lease });
  }
  return { claimed, retired, seen: candidates.length };
}

/**
 * Marks a claimed row sent. Deliberately not conditional on the lease: the mail did go out, and recording that
 * stops further copies even if another worker has meanwhile taken the row over.
 */
export async function markSent(knex: Knex, id: string): Promise<void> {
  await knex(OUTBOX_TABLE).where('id', id).update({ state: 'sent', sent_at: isoAt(), lease_until: null, last_error: null });
}

/**
 * Extends a claim this worker still holds to `until` (ISO), and records it in `row.lease`. Returns false if the
 * lease was lost: the row was re-claimed by another worker after it expired (which rewrote `lease_until`), or
 * finished. A lease that expired but was not taken yet is still ours, and is renewed.
 */
export async function renewLease(knex: Knex, row: ClaimedRow, until: string): Promise<boolean> {
  // MySQL counts changed rows, not matched ones: writing the same value would read as a lost lease.
  if (until <= row.lease) return true;
  const n = await knex(OUTBOX_TABLE).where({ id: row.id, state: 'sending', lease_until: row.lease }).update({ lease_until: until });
  if (n === 1) row.lease = until;
  return n === 1;
}

/** Schedules another attempt. Returns false if the lease was lost (another worker owns the row now). */
export async function markRetry(knex: Knex, row: ClaimedRow, nextAttemptAt: string, error: string): Promise<boolean> {
  const n = await knex(OUTBOX_TABLE)
    .where({ id: row.id, state: 'sending', lease_until: row.lease })
    .update({ state: 'pending', next_attempt_at: nextAttemptAt, lease_until: null, last_error: error });
  return n === 1;
}

/** Gives up on a claimed row. Returns false if the lease was lost. */
export async function markDead(knex: Knex, row: ClaimedRow, error: string): Promise<boolean> {
  const n = await knex(OUTBOX_TABLE)
    .where({ id: row.id, state: 'sending', lease_until: row.lease })
    .update({ state: 'dead', lease_until: null, last_error: error });
  return n === 1;
}

/** When the next row becomes due (a pending retry or an expiring lease), or null when nothing is waiting. */
export async function nextDueAt(knex: Knex, services?: readonly string[]): Promise<number | null> {
  const [pending, sending] = await Promise.all([
    forServices(knex(OUTBOX_TABLE).where('state', 'pending'), services).min({ at: 'next_attempt_at' }).first(),
    forServices(knex(OUTBOX_TABLE).where('state', 'sending'), services).min({ at: 'lease_until' }).first(),
  ]);
  const times = [pending?.at, sending?.at].filter((t): t is string => typeof t === 'string').map((t) => Date.parse(t));
  return times.length ? Math.min(...times) : null;
}

/** Deletes `sent` rows sent before `before` (ISO). Returns how many. */
export async function pruneSent(knex: Knex, before: string): Promise<number> {
  return knex(OUTBOX_TABLE).where('state', 'sent').andWhere('sent_at', '<', before).delete();
}
