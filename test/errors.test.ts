/**
 * The error catalog, docs/errors.md and the exported MhErrorCode type stay in sync (in both directions).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { CloseCode, MhError, catalog, formatMessage, type MhErrorCode } from '../src/errors.js';
import { ROOT } from './support/mounts.js';

function documented(): Map<string, { status: number; close: number | undefined }> {
  const text = readFileSync(path.join(ROOT, 'docs/errors.md'), 'utf8');
  const rows = new Map<string, { status: number; close: number | undefined }>();
  for (const m of text.matchAll(/^\| `(MH_ERR_[A-Z_]+)` \| (\d+) \| (\d+|–) \|/gm)) {
    rows.set(m[1]!, { status: Number(m[2]), close: m[3] === '–' ? undefined : Number(m[3]) });
  }
  return rows;
}

describe('error catalog', () => {
  it('documents every code with its HTTP status and close code, and nothing else', () => {
    const docs = documented();
    const fromCatalog = new Map(Object.entries(catalog).map(([code, spec]) => [code, { status: spec.status, close: 'close' in spec ? spec.close : undefined }]));
    expect(docs).toEqual(fromCatalog);
  });

  it('uses 44xx close codes for client faults and 45xx or 10xx for server ones', () => {
    for (const [code, spec] of Object.entries(catalog)) {
      const close = 'close' in spec ? (spec.close as number | undefined) : undefined;
      if (close === undefined) continue;
      if (spec.status < 500) expect([CloseCode.MessageTooBig, ...[4400, 4401, 4403, 4429]], code).toContain(close);
      else expect([CloseCode.GoingAway, CloseCode.InternalError, CloseCode.SlowConsumer, CloseCode.InternalServerError], code).toContain(close);
    }
  });

  it('fills message templates in order and carries code, status and close code', () => {
    expect(formatMessage('a %s b %s', [1, 'x'])).toBe('a 1 b x');
    const e = new MhError('MH_ERR_MSG_TOO_LARGE', [70000, 65536]);
    expect(e.toJSON()).toEqual({ code: 'MH_ERR_MSG_TOO_LARGE', message: 'Message is 70000 bytes; the limit is 65536' });
    expect([e.status, e.closeCode]).toEqual([413, 1009]);
    expectTypeOf<'MH_ERR_MSG_NOT_FOUND'>().toMatchTypeOf<MhErrorCode>();
  });
});
