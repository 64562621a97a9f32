import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knex, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NUM_RUNS, checkAgreement, createAgreementTable } from './agreement.js';

describe('SQL and predicate agreement on SQLite', () => {
  let dir: string;
  let db: Knex;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'msghub-filter-'));
    db = knex({ client: 'better-sqlite3', connection: { filename: join(dir, 'agree.db') }, useNullAsDefault: true });
    await createAgreementTable(db, 'sqlite', 'rows');
  });

  afterAll(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('selects exactly the rows the predicate accepts, for random rows and filters', async () => {
    const passed = await checkAgreement(db, 'sqlite', 'rows');
    console.info(`[filter agreement] sqlite: ${passed} runs passed`);
    expect(passed).toBe(NUM_RUNS);
  }, 120_000);
});
