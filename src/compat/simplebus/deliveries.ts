/**
 * @module compat/simplebus/deliveries
 * Per-recipient delivery state of SimpleBus queue messages: one row per (message, recipient) in
 * `<table>_deliveries`, inserted by the message's own write (MessageHandlerConfig.extraRows), in its transaction:
 * a stored message always has its rows, a refused one has none, and a crash cannot split them.
 *
 * Columns: `seq` (the message's `_seq`: rows of one recipient are sent in this order), `recipient`, `mid` (the
 * SimpleBus `_id`, what a confirmation names), `kind` (`ws` or `push`), `state` (`pending` → `confirmed`, or
 * `dead` after `max_redeliveries`: kept, visible, and still confirmable), `attempts` (redeliveries and pushes
 * made), `next_at` (ISO: when it is due again), `confirmed_at`, `last_error`.
 *
 * Concurrency: every transition is one conditional UPDATE whose row count says who won (as the alert outbox,
 * alert/claim.ts). A claim moves `next_at` forward to the claimer's lease (`now + redelivery` for a socket
 * recipient, `now + push lease` for an HTTP push), conditional on the `next_at` it read: two nodes that read the
 * same due row cannot both send it, and a node that dies mid-send leaves a row that is due again when its lease
 * ends. A confirmation is unconditional on the lease (the recipient has it: nothing must send it again).
 */
import type { Knex } from 'knex';
import type { StoredEvent } from '../../store/store.js';
import type { Row } from '../../types.js';

export type DeliveryState = 'pending' | 'confirmed' | 'dead';

export interface DueRow {
  seq: number;
  recipient: string;
  mid: string;
  attempts: number;
  nextAt: string;
}

export function deliveriesTable(table: string): string {
  return `${table}_deliveries`;
}

export function iso(ms = 0, now = Date.now()): string {
  return new Date(now + ms).toISOString();
}

/** `|a|b|` → [a, b]. */
export function splitIds(list: unknown): string[] {
  return typeof list === 'string' && list.length > 2 ? list.slice(1, -1).split('|') : [];
}

export class Deliveries {
  readonly name: string;

  constructor(
    private readonly knex: Knex,
    table: string,
    private readonly redeliveryMs: number,
  ) {
    this.name = deliveriesTable(table);
  }

  async init(): Promise<void> {
    if (await this.knex.schema.hasTable(this.name)) return;
    try {
      await this.knex.schema.createTable(this.name, (t) => {
        t.bigInteger('seq').notNullable();
        t.string('recipient', 128).notNullable();
        t.string('mid', 128).notNullable();
        t.string('kind', 8).notNullable();
        t.string('state', 16).notNullable();
        t.integer('attempts').notNullable().defaultTo(0);
        t.string('next_at', 32).notNullable();
        t.string('confirmed_at', 32).nullable();
        t.text('last_error').nullable();
        t.primary(['seq', 'recipient']);
        t.index(['recipient', 'state', 'seq'], `${this.name}_recipient`);
        t.index(['mid', 'recipient'], `${this.name}_mid`);
        t.index(['kind', 'state', 'next_at'], `${this.name}_due`);
      });
    } catch (err) {
      if (!(await this.knex.schema.hasTable(this.name))) throw err;
    }
  }

  /**
   * The rows a stored queue message adds (MessageHandlerConfig.extraRows): one per recipient. A socket
   * recipient's is first due one redelivery period after the send (the live delivery is the first attempt); a
   * push recipient's is due at once.
   */
  rowsFor(values: Row, event: StoredEvent): { table: string; row: Row }[] {
    if (event.method !== 'POST' || values.notice !== null && values.notice !== undefined) return [];
    const push = new Set(splitIds(values.push));
    const now = Date.now();
    const later = iso(this.redeliveryMs, now);
    const at = iso(0, now);
    const mid = String(values.mid);
    return splitIds(values.recipients).map((recipient) => {
      const isPush = push.has(recipient);
      return {
        table: this.name,
        row: { seq: event.seq, recipient, mid, kind: isPush ? 'push' : 'ws', state: 'pending', attempts: 0, next_at: isPush ? at : later, confirmed_at: null, last_error: null },
      };
    });
  }

  /**
   * `recipient` confirmed `mid`: every pending (or dead) row of theirs for that `_id` is confirmed. Returns the
   * rows' sequence numbers (empty: nothing of theirs was waiting, e.g. a direct message or a repeat).
   */
  async confirm(recipient: string, mid: string): Promise<number[]> {
    const rows = await this.knex(this.name).select('seq').where({ mid, recipient }).whereIn('state', ['pending', 'dead']);
    if (!rows.length) return [];
    await this.knex(this.name).where({ mid, recipient }).whereIn('state', ['pending', 'dead']).update({ state: 'confirmed', confirmed_at: iso(), last_error: null });
    return rows.map((r) => Number(r.seq));
  }

  /** Whether every recipient of message `seq` confirmed it. */
  async allConfirmed(seq: number): Promise<boolean> {
    const r = await this.knex(this.name).where('seq', seq).whereNot('state', 'confirmed').count({ n: '*' }).first();
    return Number(r?.n ?? 0) === 0;
  }

  /**
   * Socket deliveries that are due for these recipients (connected to this node), oldest message first; with
   * `all`, every pending row of theirs whatever its `next_at` (a recipient that just connected).
   */
  async due(recipients: readonly string[], limit: number, all = false): Promise<DueRow[]> {
    if (!recipients.length) return [];
    const q = this.knex(this.name).select('seq', 'recipient', 'mid', 'attempts', 'next_at').where({ kind: 'ws', state: 'pending' }).whereIn('recipient', [...recipients]);
    if (!all) q.andWhere('next_at', '<=', iso());
    const rows = await q.orderBy('seq').limit(limit);
    return rows.map(toDue);
  }

  /** HTTP push deliveries that are due, any recipient. */
  async duePush(limit: number): Promise<DueRow[]> {
    const rows = await this.knex(this.name)
      .select('seq', 'recipient', 'mid', 'attempts', 'next_at')
      .where({ kind: 'push', state: 'pending' })
      .andWhere('next_at', '<=', iso())
      .orderBy('next_at')
      .limit(limit);
    return rows.map(toDue);
  }

  /**
   * Takes a due row for one attempt: `next_at` becomes `leaseUntil` and `attempts` grows by one, iff nobody took
   * it since it was read. Returns the lease (the row's new `next_at`) or null when another node won.
   */
  async claim(row: DueRow, leaseMs: number): Promise<string | null> {
    let lease = iso(leaseMs);
    // MySQL counts changed rows: a lease equal to the old value would read as lost.
    if (lease <= row.nextAt) lease = iso(leaseMs + 1);
    const n = await this.knex(this.name)
      .where({ seq: row.seq, recipient: row.recipient, state: 'pending', next_at: row.nextAt })
      .update({ next_at: lease, attempts: this.knex.raw('?? + 1', ['attempts']) });
    return n === 1 ? lease : null;
  }

  /** Gives up on a row (kept as `dead`), iff it is still as read. */
  async kill(row: DueRow, reason: string): Promise<boolean> {
    const n = await this.knex(this.name).where({ seq: row.seq, recipient: row.recipient, state: 'pending', next_at: row.nextAt }).update({ state: 'dead', last_error: reason });
    return n === 1;
  }

  /** A push attempt failed: due again at `nextAt`, iff this worker still holds it (`lease`). */
  async retryAt(row: DueRow, lease: string, nextAt: string, error: string): Promise<boolean> {
    const n = await this.knex(this.name).where({ seq: row.seq, recipient: row.recipient, state: 'pending', next_at: lease }).update({ next_at: nextAt, last_error: error.slice(0, 1000) });
    return n === 1;
  }

  /** A push attempt succeeded (2xx): confirmed, whoever holds the lease now. */
  async confirmed(row: DueRow): Promise<void> {
    await this.knex(this.name).where({ seq: row.seq, recipient: row.recipient }).whereIn('state', ['pending', 'dead']).update({ state: 'confirmed', confirmed_at: iso(), last_error: null });
  }

  /** Rows of one message (tests and operators). */
  async ofMessage(mid: string): Promise<Row[]> {
    return this.knex(this.name).select('*').where('mid', mid).orderBy(['seq', 'recipient']);
  }
}

function toDue(r: Record<string, unknown>): DueRow {
  return { seq: Number(r.seq), recipient: String(r.recipient), mid: String(r.mid), attempts: Number(r.attempts), nextAt: String(r.next_at) };
}
