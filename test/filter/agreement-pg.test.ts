import { describe, expect, it } from 'vitest';
import { NUM_RUNS, checkAgreement, connectIfReachable, createAgreementTable, uniqueTable } from './agreement.js';

describe('SQL and predicate agreement on PostgreSQL', () => {
  it('selects exactly the rows the predicate accepts, for random rows and filters', async () => {
    const db = await connectIfReachable('PostgreSQL at 127.0.0.1:5432', {
      client: 'pg',
      connection: { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test', connectionTimeoutMillis: 3_000 },
    });
    if (!db) return;
    const table = uniqueTable('mh_filter');
    try {
      await createAgreementTable(db, 'pg', table);
      const passed = await checkAgreement(db, 'pg', table);
      console.info(`[filter agreement] pg: ${passed} runs passed`);
      expect(passed).toBe(NUM_RUNS);
    } finally {
      await db.schema.dropTableIfExists(table);
      await db.destroy();
    }
  }, 180_000);
});
