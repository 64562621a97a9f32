/**
 * @module filter/convert
 * Turns a query-string value into the JavaScript value of its column's kind, once, at parse time. Both back
 * ends then compare typed values, so `?n>=10` is numeric on an INTEGER column in SQL and in the predicate alike.
 */

import { MhError } from '../errors.js';
import type { ColumnKind } from '../types.js';
import type { Scalar } from './types.js';

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const BOOLEANS: ReadonlyMap<string, boolean> = new Map([
  ['true', true],
  ['false', false],
  ['1', true],
  ['0', false],
]);
// Lone surrogates cannot be stored as UTF-8 and NUL cannot be stored in PostgreSQL text; neither can match a
// stored row the same way everywhere, so such values are refused rather than compared inconsistently.
const UNSTORABLE = /[\u0000\p{Cs}]/u;

/**
 * Converts one non-empty raw value. Throws MH_ERR_FILTER_VALUE (naming `key`) when it is not a value of `kind`:
 * integers must be integer literals within ±(2^53 − 1) so that JavaScript and SQL see the same number; reals
 * must be finite decimal literals (no `0x`, no `Infinity`); booleans are `true`, `false`, `1` or `0` in any case.
 */
export function convertValue(key: string, kind: ColumnKind, raw: string): Scalar {
  switch (kind) {
    case 'integer': {
      const n = INTEGER.test(raw) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n)) throw bad(key, `"${raw}" is not an integer`);
      return n === 0 ? 0 : n; // -0 → 0, so keys and SQL bindings do not differ for the same number
    }
    case 'real': {
      const n = DECIMAL.test(raw) ? Number(raw) : NaN;
      if (!Number.isFinite(n)) throw bad(key, `"${raw}" is not a finite number`);
      return n === 0 ? 0 : n;
    }
    case 'boolean': {
      const b = BOOLEANS.get(raw.toLowerCase());
      if (b === undefined) throw bad(key, `"${raw}" is not true, false, 1 or 0`);
      return b;
    }
    case 'text':
      if (UNSTORABLE.test(raw)) throw bad(key, 'text contains NUL or an unpaired surrogate');
      return raw;
  }
}

function bad(key: string, reason: string): MhError {
  return new MhError('MH_ERR_FILTER_VALUE', [key, reason]);
}
