import { describe, expect, it } from 'vitest';
import { NUM_RUNS, checkAgreement, connectIfReachable, createAgreementTable, uniqueTable } from './agreement.js';

describe('SQL and predicate agreement on MySQL/MariaDB', () => {
  it('selects exactly the rows the predicate accepts, for random rows and filters', async () => {
    const db = await connectIfReachable('MySQL/MariaDB at 127.0.0.1:3306', {
      client: 'mysql2',
      connection: { host: '127.0.0.1', port: 3306, user: 'root', password: '', database: 'test', charset: 'utf8mb4', connectTimeout: 3_000 },
    });
    if (!db) return;
    const table = uniqueTable('mh_filter');
    try {
      await createAgreementTable(db, 'mysql', table);
      const passed = await checkAgreement(db, 'mysql', table);
      console.info(`[filter agreement] mysql: ${passed} runs passed`);
      expect(passed).toBe(NUM_RUNS);
    } finally {
      await db.schema.dropTableIfExists(table);
      await db.destroy();
    }
  }, 180_000);
});
