/**
 * @module alert/outbox
 * The durable queue of alerts: one table in the handler's own database. The core inserts an `outboxRow()` in
 * the same transaction as the message, so an alert exists if and only if its message was committed; the
 * OutboxWorker sends it later. Timestamps are ISO 8601 UTC strings of fixed width, so they compare correctly as
 * text on every database.
 *
 * States: `pending` (waiting for its `next_attempt_at`) → `sending` (claimed by a worker until `lease_until`)
 * → `sent`, or back to `pending` with a later `next_attempt_at`, or `dead` (gave up; kept for inspection).
 */
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Row } from '../types.js';
import type { RenderedMail } from './render.js';

export const OUTBOX_TABLE = 'msghub_outbox';

export type OutboxState = 'pending' | 'sending' | 'sent' | 'dead';
export const OUTBOX_STATES: readonly OutboxState[] = ['pending', 'sending', 'sent', 'dead'];

/**
 * Creates the outbox table and its index if missing. Idempotent and safe when two processes start together:
 * losing the creation race is not an error.
 */
export async function ensureOutboxTable(knex: Knex): Promise<void> {
  if (await knex.schema.hasTable(OUTBOX_TABLE)) return;
  try {
    await knex.schema.createTable(OUTBOX_TABLE, (t) => {
      t.string('id', 64).primary();
      t.string('handler', 255).notNullable();
      t.bigInteger('seq').nullable();
      t.string('service', 255).notNullable();
      t.string('state', 16).notNullable();
      t.integer('attempts').notNullable().defaultTo(0);
      t.string('created_at', 32).notNullable();
      t.string('next_attempt_at', 32).notNullable();
      t.string('lease_until', 32).nullable();
      t.string('sent_at', 32).nullable();
      t.text('last_error').nullable();
      // MySQL's TEXT stops at 64 KB; an HTML mail can be larger. Other databases ignore the hint.
      t.text('payload', 'mediumtext').notNullable();
      t.index(['state', 'next_attempt_at'], `${OUTBOX_TABLE}_due`);
    });
  } catch (err) {
    if (!(await knex.schema.hasTable(OUTBOX_TABLE))) throw err;
  }
}

/** Now, or `ms` from now, as the fixed-width ISO string the table stores. */
export function isoAt(ms = 0, now = Date.now()): string {
  return new Date(now + ms).toISOString();
}

/**
 * The row the core inserts into OUTBOX_TABLE, in the same transaction as message `meta.seq`. The `id` is 128
 * random bits (base64url) and never changes, so the Message-ID derived from it is stable across retries and
 * restarts, and receivers can drop the rare duplicate.
 */
export function outboxRow(mail: RenderedMail, meta: { handler: string; seq: number }): Row {
  const now = isoAt();
  return {
    id: randomBytes(16).toString('base64url'),
    handler: meta.handler,
    seq: meta.seq,
    service: mail.service,
    state: 'pending',
    attempts: 0,
    created_at: now,
    next_attempt_at: now,
    lease_until: null,
    sent_at: null,
    last_error: null,
    payload: JSON.stringify(mail),
  };
}

/**
 * `<id@domain>`: the domain is the sender's (so the header looks native to it), else `msghub.invalid`. Both parts
 * come from the stored row, so every retry of one alert carries the same Message-ID.
 */
export function messageIdFor(id: string, mail: Pick<RenderedMail, 'from'>): string {
  const domain = /@([A-Za-z0-9.-]+)>?\s*$/.exec(mail.from ?? '')?.[1] ?? 'msghub.invalid';
  return `<${id}@${domain}>`;
}

/** Options of listOutbox. */
export interface OutboxFilter {
  /** Only rows in this state. */
  state?: string;
  /** At most this many rows, newest first. Default 1000. */
  limit?: number;
}

/**
 * Outbox rows, newest first, without the mail body: each row has its columns (except `payload`) plus `to`
 * (all recipients, comma-separated) and `subject`, which is what an operator needs to tell alerts apart.
 */
export async function listOutbox(knex: Knex, filter: OutboxFilter = {}): Promise<Row[]> {
  // A database whose handler never queued an alert has no table yet: that is an empty outbox, not an error.
  if (!(await knex.schema.hasTable(OUTBOX_TABLE))) return [];
  const query = knex(OUTBOX_TABLE)
    .select('*')
    .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }])
    .limit(filter.limit ?? 1000);
  if (filter.state !== undefined) query.where('state', filter.state);
  const rows: Row[] = await query;
  return rows.map(({ payload, ...row }) => {
    let mail: Partial<RenderedMail> = {};
    try {
      mail = JSON.parse(String(payload)) as RenderedMail;
    } catch {
      // A corrupt payload is shown as such; the worker moves the row to `dead`.
    }
    return {
      ...row,
      seq: row.seq === null || row.seq === undefined ? null : Number(row.seq),
      attempts: Number(row.attempts),
      to: [...(mail.to ?? []), ...(mail.cc ?? []), ...(mail.bcc ?? [])].join(', '),
      subject: mail.subject ?? null,
    };
  });
}

/** Number of rows per state (every state present, zeros included). */
export async function countOutbox(knex: Knex): Promise<Record<OutboxState, number>> {
  const counts = Object.fromEntries(OUTBOX_STATES.map((s) => [s, 0])) as Record<OutboxState, number>;
  if (!(await knex.schema.hasTable(OUTBOX_TABLE))) return counts;
  const rows: { state: string; n: number | string }[] = await knex(OUTBOX_TABLE).select('state').count({ n: '*' }).groupBy('state');
  for (const { state, n } of rows) if (state in counts) counts[state as OutboxState] = Number(n);
  return counts;
}

/**
 * The text `msghub alerts` prints: a count line, then one section per non-empty state in the order
 * dead, sending, pending, sent (what needs attention first), one line per alert.
 */
export function formatOutbox(rows: readonly Row[]): string {
  const byState = new Map<string, Row[]>();
  for (const row of rows) {
    const state = String(row.state);
    byState.set(state, [...(byState.get(state) ?? []), row]);
  }
  const lines = [
    OUTBOX_STATES.map((s) => `${s}: ${byState.get(s)?.length ?? 0}`).join('  '),
  ];
  for (const state of ['dead', 'sending', 'pending', 'sent'] as const) {
    const list = byState.get(state);
    if (!list?.length) continue;
    lines.push('', `${state.toUpperCase()}`);
    for (const r of list) {
      const when = {
        sent: `sent ${r.sent_at}`,
        pending: `next ${r.next_attempt_at}`,
        sending: `lease ${r.lease_until}`,
        dead: `created ${r.created_at}`,
      }[state];
      const err = r.last_error ? `  error: ${String(r.last_error).replace(/\s+/g, ' ')}` : '';
      const subject = JSON.stringify(r.subject ?? '');
      lines.push(
        `  ${r.id}  ${r.handler}#${r.seq ?? '-'}  ${r.service}  attempts=${r.attempts}  ${when}  to=${r.to}  subject=${subject}${err}`,
      );
    }
  }
  return lines.join('\n') + '\n';
}
