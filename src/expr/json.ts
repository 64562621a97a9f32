/**
 * @module expr/json
 * `JSON.parse` and `JSON.stringify` for expressions. Parsing refuses forbidden keys (`{"__proto__": …}` is the
 * classic pollution payload) and oversized arrays. Stringifying is done here rather than natively because the
 * native one runs getters and `toJSON` methods and cannot stop at a size limit; this one reads own data only
 * and stops as soon as the output passes the string limit.
 */

import { chargeChars, chargeItems, checkArray, checkString, type Ctx } from './context.js';
import { forbidden, runtime } from './fail.js';
import { WEIGHT_BUILD, WEIGHT_JSON } from './limits.js';
import { FORBIDDEN_KEYS, readOwn } from './own.js';

/** `JSON.parse(text)` with sandbox checks; the result is fresh, writable plain data. */
export function parseJson(cx: Ctx, text: string): unknown {
  chargeChars(cx, text.length * WEIGHT_JSON);
  try {
    return JSON.parse(text, function (this: unknown, key: string, value: unknown) {
      if (FORBIDDEN_KEYS.has(key)) forbidden(cx.path, `the member "${key}" in JSON.parse input`);
      if (Array.isArray(value)) {
        checkArray(cx, value.length);
        chargeItems(cx, value.length);
      }
      return value;
    });
  } catch (err) {
    if (err instanceof SyntaxError) runtime(cx.path, `JSON.parse: ${err.message}`, err);
    throw err;
  }
}

/** `JSON.stringify(value, null, space)`: same output as the native one for plain data. */
export function stringifyJson(cx: Ctx, value: unknown, space: unknown): string | undefined {
  // Same rules as the native `space` argument: a number of spaces up to 10, or a string cut to 10 characters.
  const indent = typeof space === 'number' ? ' '.repeat(Math.max(0, Math.min(10, Math.trunc(space)))) : typeof space === 'string' ? space.slice(0, 10) : '';
  const out: string[] = [];
  const stack = new Set<object>();
  let total = 0;
  let charged = 0;

  // Output is collected in pieces and joined once; the running total stops it at the limit mid-way, and is
  // charged every 4 KiB so that the budget stops it mid-way too.
  const emit = (s: string): void => {
    total += s.length;
    checkString(cx, total);
    if (total - charged >= 4096) {
      chargeChars(cx, (total - charged) * WEIGHT_BUILD);
      charged = total;
    }
    out.push(s);
  };

  /** Writes one value; returns false when it is omitted (undefined), as the native one does. */
  const write = (v: unknown, pad: string): boolean => {
    switch (typeof v) {
      case 'string':
        chargeChars(cx, v.length); // escaping reads it whole, before emit sees the result
        emit(JSON.stringify(v));
        return true;
      case 'number':
        emit(Number.isFinite(v) ? String(v) : 'null');
        return true;
      case 'boolean':
        emit(v ? 'true' : 'false');
        return true;
      case 'bigint':
        return runtime(cx.path, 'JSON.stringify cannot serialize a BigInt');
      case 'object':
        break;
      default:
        return false; // undefined (functions never reach here)
    }
    if (v === null) {
      emit('null');
      return true;
    }
    // Dates are the one toJSON the native serializer would run that data can legitimately hold (from modules).
    if (v instanceof Date) {
      const t = v.getTime();
      emit(Number.isNaN(t) ? 'null' : JSON.stringify(v.toISOString()));
      return true;
    }
    // The stack holds the objects being written right now: seeing one again is a cycle, not a shared value.
    if (stack.has(v)) runtime(cx.path, 'JSON.stringify: circular structure');
    stack.add(v);
    const inner = indent ? pad + indent : '';
    const nl = indent ? '\n' : '';
    if (Array.isArray(v)) {
      chargeItems(cx, v.length);
      emit('[');
      for (let i = 0; i < v.length; i++) {
        if (i > 0) emit(',');
        emit(nl + inner);
        if (!write(readOwn(cx, v, i), inner)) emit('null');
      }
      emit(v.length > 0 ? nl + pad + ']' : ']');
    } else {
      const keys = Object.keys(v);
      chargeItems(cx, keys.length);
      emit('{');
      let first = true;
      for (const k of keys) {
        const el = readOwn(cx, v, k);
        if (el === undefined) continue; // undefined members are left out, as natively
        emit((first ? '' : ',') + nl + inner + JSON.stringify(k) + (indent ? ': ' : ':'));
        first = false;
        write(el, inner);
      }
      emit(first ? '}' : nl + pad + '}');
    }
    stack.delete(v);
    return true;
  };

  if (!write(value, '')) return undefined;
  chargeChars(cx, (total - charged) * WEIGHT_BUILD);
  return out.join('');
}
