/**
 * @module filter/compare
 * How filter values compare, defined once so that the parser, the JavaScript predicate and the canonical key
 * agree with the SQL back ends: text by Unicode code point (the order of UTF-8 bytes, which is what SQLite's
 * BINARY collation, PostgreSQL's "C" collation and MySQL's binary strings use), numbers numerically, booleans
 * as 0 and 1, and case-insensitive text by ASCII letters only.
 */

import type { Scalar } from './types.js';

/**
 * Compares two strings by code point. JavaScript's `<` compares UTF-16 code units, which puts an astral
 * character (a surrogate pair, D800–DFFF) before U+E000–U+FFFF; every database here puts it after. At the first
 * differing unit we shift both ranges so that surrogates sort above the rest of the BMP, which is code-point
 * order for well-formed strings without decoding them.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  // Surrogates (D800–DFFF) move above E000–FFFF; E000–FFFF move down into the gap.
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}

/**
 * Lower-cases A–Z and nothing else. This is the case folding of `*=` everywhere: SQLite's built-in lower()
 * folds ASCII only, so every back end folds ASCII only; `É`, `İ` or the Kelvin sign `K` keep their case.
 */
export function asciiLower(s: string): string {
  if (!HAS_UPPER.test(s)) return s;
  // Pure ASCII: the built-in lower-casing is exactly A–Z → a–z, and the fastest there is.
  if (!NON_ASCII.test(s)) return s.toLowerCase();
  // Short mixed text: one replacement per run of capitals. Long mixed text: a replacement per run would
  // allocate per capital (an all-caps 60 KB value took 5 ms), so fold the UTF-16 code units in one buffer.
  const buf = s.length < LONG ? undefined : Buffer.from(s, 'utf16le');
  // Node aligns pool slices to 8 bytes, so a Uint16Array view fits; checked rather than assumed.
  if (buf === undefined || buf.byteOffset % 2 !== 0) return s.replace(UPPER_RUNS, lowerRun);
  const units = new Uint16Array(buf.buffer, buf.byteOffset, buf.length >> 1);
  for (let i = 0; i < units.length; i++) {
    const u = units[i]!;
    if (u >= 0x41 && u <= 0x5a) units[i] = u + 32;
  }
  return buf.toString('utf16le');
}

const HAS_UPPER = /[A-Z]/;
const NON_ASCII = /[^\x00-\x7f]/;
const UPPER_RUNS = /[A-Z]+/g;
const lowerRun = (run: string): string => run.toLowerCase();
/** Length from which {@link asciiLower} folds through a buffer (below it, a regex replacement is cheaper). */
const LONG = 256;

/**
 * Orders a row value against a filter value, or returns undefined when they cannot be compared (a string
 * against a number, a missing value, an object). Booleans count as 0 and 1, as SQLite and MySQL store them,
 * so a raw 0/1 from SQLite and a canonical true/false compare alike.
 */
export function compareScalar(a: unknown, b: Scalar): number | undefined {
  if (typeof b === 'string') return typeof a === 'string' ? compareCodePoints(a, b) : undefined;
  const x = toNumber(a);
  if (x === undefined) return undefined;
  const y = Number(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The numeric value of a number or boolean; undefined for anything else (NaN included: it equals nothing). */
export function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isNaN(v) ? undefined : v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}

/** A total order over filter values of any type (booleans, then numbers, then strings); used to canonicalize. */
export function orderScalars(a: Scalar, b: Scalar): number {
  const ta = typeRank(a);
  const tb = typeRank(b);
  if (ta !== tb) return ta - tb;
  return compareScalar(a, b) ?? 0;
}

function typeRank(v: Scalar): number {
  return typeof v === 'boolean' ? 0 : typeof v === 'number' ? 1 : 2;
}

/** Sorts values by {@link orderScalars} and drops duplicates (0 and -0 are one value). */
export function canonicalValues(values: readonly Scalar[]): Scalar[] {
  const sorted = [...values].sort(orderScalars);
  return sorted.filter((v, i) => i === 0 || orderScalars(sorted[i - 1], v) !== 0);
}
