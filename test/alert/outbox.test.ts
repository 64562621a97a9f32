import path from 'node:path';
import type { Knex } from 'knex';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  OUTBOX_TABLE,
  backoffDelay,
  countOutbox,
  ensureOutboxTable,
  formatOutbox,
  listOutbox,
  messageIdFor,
  outboxRow,
} from '../../src/alert/index.js';
import type { Row } from '../../src/types.js';
import { mail, sqlite, tempDir } from './helpers.js';

let tmp: ReturnType<typeof tempDir>;
let knex: Knex;
beforeEach(() => {
  tmp = tempDir();
  knex = sqlite(path.join(tmp.dir, 'chat.db'));
});
afterEach(async () => {
  await knex.destroy();
  tmp.cleanup();
});

describe('ensureOutboxTable', () => {
  it('creates the table once and is idempotent', async () => {
    await ensureOutboxTable(knex);
    await ensureOutboxTable(knex);
    expect(await knex.schema.hasTable(OUTBOX_TABLE)).toBe(true);
    const columns = Object.keys(await knex(OUTBOX_TABLE).columnInfo()).sort();
    expect(columns).toEqual(
      ['attempts', 'created_at', 'handler', 'id', 'last_error', 'lease_until', 'next_attempt_at', 'payload', 'sent_at', 'seq', 'service', 'state'].sort(),
    );
  });
});

describe('outboxRow', () => {
  it('is a pending row with a JSON payload, zero attempts, ISO times and a unique id', () => {
    const a = outboxRow(mail(1), { handler: 'chat', seq: 7 });
    const b = outboxRow(mail(1), { handler: 'chat', seq: 7 });
    expect(a).toMatchObject({ handler: 'chat', seq: 7, service: 'local', state: 'pending', attempts: 0, lease_until: null });
    expect(JSON.parse(a.payload as string)).toEqual(mail(1));
    expect(a.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(a.next_attempt_at).toBe(a.created_at);
    expect(a.id).not.toBe(b.id);
  });

  it('yields a stable Message-ID in the sender domain', () => {
    expect(messageIdFor('abc', { from: 'Hub <hub@example.org>' })).toBe('<abc@example.org>');
    expect(messageIdFor('abc', {})).toBe('<abc@msghub.invalid>');
  });
});

describe('listOutbox', () => {
  it('treats a database without the table as an empty outbox', async () => {
    expect(await listOutbox(knex)).toEqual([]);
    expect(await countOutbox(knex)).toEqual({ pending: 0, sending: 0, sent: 0, dead: 0 });
    expect(formatOutbox([])).toBe('pending: 0  sending: 0  sent: 0  dead: 0\n');
  });

  it('lists rows newest first, filtered by state, with recipients and subject instead of the payload', async () => {
    await ensureOutboxTable(knex);
    const rows: Row[] = [1, 2, 3].map((i) => ({ ...outboxRow(mail(i), { handler: 'chat', seq: i }), created_at: `2030-01-0${i}T00:00:00.000Z` }));
    rows[2]!.state = 'dead';
    rows[2]!.last_error = 'boom';
    await knex(OUTBOX_TABLE).insert(rows);
    const all = await listOutbox(knex);
    expect(all.map((r) => r.seq)).toEqual([3, 2, 1]);
    expect(all[0]).toMatchObject({ state: 'dead', to: 'user3@example.org', subject: 'Alert 3', last_error: 'boom' });
    expect(all[0]).not.toHaveProperty('payload');
    expect((await listOutbox(knex, { state: 'pending' })).map((r) => r.seq)).toEqual([2, 1]);
    expect(await countOutbox(knex)).toEqual({ pending: 2, sending: 0, sent: 0, dead: 1 });
    const text = formatOutbox(all);
    expect(text.split('\n')[0]).toBe('pending: 2  sending: 0  sent: 0  dead: 1');
    expect(text).toMatch(/DEAD\n {2}\S+ {2}chat#3 {2}local {2}attempts=0 {2}created 2030-01-03T00:00:00.000Z {2}to=user3@example.org {2}subject="Alert 3" {2}error: boom/);
  });
});

describe('backoffDelay', () => {
  it('doubles per attempt with jitter in the upper half, capped at maxDelayMs', () => {
    const opts = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect([1, 2, 3, 4, 5, 9].map((a) => backoffDelay(a, opts, () => 1))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect([1, 2, 3].map((a) => backoffDelay(a, opts, () => 0))).toEqual([50, 100, 200]);
  });
});
