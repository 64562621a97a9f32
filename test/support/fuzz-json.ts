/**
 * Hostile inputs for the property-based attack test (test/e2e/fuzz.test.ts), as fast-check arbitraries of
 * *text*, not of JavaScript values: a JavaScript value cannot hold a duplicate key, a `__proto__` key written
 * in the text, `-0` or `1e400` as written, or 6000 levels of nesting that `JSON.stringify` would refuse. So a
 * value is a small tree (`JNode`) whose leaves are literal JSON text, serialized by `toText`; deep nesting is
 * one node that repeats its brackets (no recursion, whatever the depth).
 */
import fc from 'fast-check';

export type JNode =
  /** Literal JSON text: a number as written, an already-escaped string, `null`, `true`… */
  | { k: 'lit'; text: string }
  | { k: 'arr'; items: JNode[] }
  /** Entries in order; keys may repeat, and may be `__proto__`. */
  | { k: 'obj'; entries: [string, JNode][] }
  /** `levels` arrays or single-key objects around `inner` (past any depth bound, and past V8's stringify). */
  | { k: 'deep'; levels: number; shape: 'array' | 'object'; key: string; inner: JNode };

export const lit = (text: string): JNode => ({ k: 'lit', text });
/** A string leaf. JSON.stringify writes a lone surrogate as its `\udXXX` escape, so it reaches the parser intact. */
export const strLit = (s: string): JNode => lit(JSON.stringify(s));

export function toText(n: JNode): string {
  switch (n.k) {
    case 'lit':
      return n.text;
    case 'arr':
      return `[${n.items.map(toText).join(',')}]`;
    case 'obj':
      return `{${n.entries.map(([k, v]) => `${JSON.stringify(k)}:${toText(v)}`).join(',')}}`;
    case 'deep': {
      const inner = toText(n.inner);
      if (n.shape === 'array') return '['.repeat(n.levels) + inner + ']'.repeat(n.levels);
      return `{${JSON.stringify(n.key)}:`.repeat(n.levels) + inner + '}'.repeat(n.levels);
    }
  }
}

/** Keys the protocol reserves for the server or for transports. */
export const RESERVED_KEYS = ['_error', '_reset', '_ack', '_auth', '_seq', '_method', '_ref', '_direct', '__proto__'] as const;
/** Names of Object.prototype members: a plain object keyed by user input already "has" them. */
export const PROTO_KEYS = ['constructor', 'valueOf', 'toString', 'hasOwnProperty', '__proto__', 'isPrototypeOf', '__defineGetter__', 'toJSON'] as const;

// Numbers as written: past double range (1e400 parses as Infinity), subnormal, negative zero, past 2^53 and 2^64.
const NUMBERS = [
  '1e308', '-1e308', '1.7976931348623157e308', '1e400', '-1e400', '1e-400', '1e-320', '5e-324', '2.2250738585072014e-308',
  '-0', '-0.0', '0', '0.1', '1E+19', '9007199254740993', '18446744073709551616', '-9223372036854775809',
  '123456789012345678901234567890',
];
export const numberText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...NUMBERS),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => JSON.stringify(x)),
  fc.integer().map(String),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
);

// Lone surrogates alone, inside text and in reversed pairs; NUL; a BOM; line separators; text that looks like a
// control frame; the hooked handler's own words ('reject-me' makes prepare reject, 'fuzz' is the pinned recipient).
const ODD_STRINGS = [
  '', '\ud800', 'a\ud800b', '\udfff', '\udc00\ud800', '😀'.slice(0, 1), 'x\u0000y', '\ufeff', '\u2028\u2029',
  'reject-me', 'fuzz', 'other', '__proto__', 'constructor', '{"_error":{"code":"x"}}', 'NaN', 'Infinity', '1e308', '😀',
];
/** Up to ~90 KB of one character: crosses the 64 KiB frame and message limit now and then. */
const longString = fc
  .tuple(fc.integer({ min: 1_000, max: 30_000 }), fc.constantFrom('x', 'é', '😀', '\ud800', 'ab\u0000'))
  .map(([n, c]) => c.repeat(n));
export const stringValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 3, arbitrary: fc.constantFrom(...ODD_STRINGS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
  { weight: 1, arbitrary: longString },
);

export function keyArb(columns: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...columns, 'id', 'user', 'timestamp') },
    { weight: 2, arbitrary: fc.constantFrom(...RESERVED_KEYS, ...PROTO_KEYS) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
  );
}

export const leafArb: fc.Arbitrary<JNode> = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom('null', 'true', 'false').map(lit) },
  { weight: 2, arbitrary: numberText.map(lit) },
  { weight: 3, arbitrary: stringValue.map(strLit) },
);

/** Nesting from just under the depth bound (32) to far past what `JSON.stringify` survives (~5000). */
export function deepArb(columns: readonly string[]): fc.Arbitrary<JNode> {
  return fc
    .record({
      levels: fc.oneof(fc.integer({ min: 28, max: 40 }), fc.integer({ min: 41, max: 8000 })),
      shape: fc.constantFrom('array' as const, 'object' as const),
      key: keyArb(columns),
      inner: leafArb,
    })
    .map((d): JNode => ({ k: 'deep', ...d }));
}

/** Any JSON value: leaves, small arrays and objects (with hostile keys), and deep nests. */
export function valueArb(columns: readonly string[]): fc.Arbitrary<JNode> {
  const key = keyArb(columns);
  const deep = deepArb(columns);
  const { tree } = fc.letrec<{ tree: JNode; arr: JNode; obj: JNode }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      { weight: 6, arbitrary: leafArb },
      { weight: 2, arbitrary: tie('arr') },
      { weight: 2, arbitrary: tie('obj') },
      { weight: 1, arbitrary: deep },
    ),
    arr: fc.array(tie('tree'), { maxLength: 4 }).map((items): JNode => ({ k: 'arr', items })),
    obj: fc.array(fc.tuple(key, tie('tree')), { maxLength: 4 }).map((entries): JNode => ({ k: 'obj', entries })),
  }));
  return tree;
}

const METHODS = ['"POST"', '"PUT"', '"DELETE"', '"put"', '"Delete"', '"PATCH"', '"GET"', '""', 'null', '5', '["PUT"]', '{}', '"\\ud800"'];

/**
 * Values a column of this name would accept, so that enough messages get past type checks to reach the
 * commit, the acknowledgement and the broadcast (where the hostile parts of the same message then matter).
 */
const PLAUSIBLE: Record<string, fc.Arbitrary<JNode>> = {
  t: stringValue.map(strLit),
  body: stringValue.map(strLit),
  tag: stringValue.map(strLit),
  recipient: fc.constantFrom('fuzz', 'other').map(strLit),
  n: fc.oneof(fc.integer().map(String), fc.constantFrom('-0', '9007199254740993', '1e308', '1.5', '"7"', '""')).map(lit),
  length: fc.integer().map((n) => lit(String(n))),
  r: numberText.map(lit),
  b: fc.constantFrom('true', 'false', '0', '1', 'null', '"true"').map(lit),
};

/**
 * A message-shaped object: mostly the handler's columns (with plausible or any values), with `_method`, `id`
 * (often a row that exists), `_ref` (often deep), `_direct`, reserved and prototype keys, each holding any value.
 */
export function messageArb(columns: readonly string[], ids: readonly string[]): fc.Arbitrary<JNode> {
  const value = valueArb(columns);
  const column = fc.constantFrom(...columns).chain((c) => fc.tuple(fc.constant(c), fc.oneof({ weight: 3, arbitrary: PLAUSIBLE[c] ?? value }, { weight: 1, arbitrary: value })));
  const entry = fc.oneof(
    { weight: 6, arbitrary: column },
    { weight: 2, arbitrary: fc.tuple(keyArb(columns), value) },
    { weight: 2, arbitrary: fc.tuple(fc.constant('_method'), fc.constantFrom(...METHODS).map(lit)) },
    { weight: 2, arbitrary: fc.tuple(fc.constant('id'), fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...ids).map(strLit) }, { weight: 1, arbitrary: value })) },
    { weight: 2, arbitrary: fc.tuple(fc.constant('_ref'), fc.oneof(value, deepArb(columns))) },
    { weight: 1, arbitrary: fc.tuple(fc.constant('_direct'), fc.constantFrom('true', 'false', '1', '"yes"').map(lit)) },
  ) as fc.Arbitrary<[string, JNode]>;
  return fc.array(entry, { maxLength: 6 }).map((entries): JNode => ({ k: 'obj', entries }));
}

const NOT_JSON = ['', ' ', '{', '}', '{"a":}', '\ufeff{}', 'NaN', 'undefined', '{"body":"x"}garbage', '{"a":1,}', "{'a':1}", '[1,]', '{"body":"\\u"}', '{"body":"\\ud800\\u"}', '{"body":"x"\u0000}', '0x10', '-'];

/** Text that is not JSON: random text, a message cut short, and the classic near misses. */
export function notJsonArb(message: fc.Arbitrary<JNode>): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(...NOT_JSON),
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.tuple(message.map(toText), fc.nat()).map(([t, n]) => t.slice(0, t.length ? n % t.length : 0)),
  );
}

/**
 * One WebSocket frame's text or one HTTP body: mostly messages, then `_ack` / `_auth` control frames with any
 * value and `_ref`, any JSON value at the top, and text that is not JSON.
 */
export function frameArb(columns: readonly string[], ids: readonly string[]): fc.Arbitrary<string> {
  const message = messageArb(columns, ids);
  const value = valueArb(columns);
  const control = fc
    .tuple(fc.constantFrom('_ack', '_auth'), value, fc.option(fc.oneof(value, deepArb(columns)), { nil: undefined }))
    .map(([k, v, ref]) => toText({ k: 'obj', entries: ref === undefined ? [[k, v]] : [[k, v], ['_ref', ref]] }));
  return fc.oneof(
    { weight: 8, arbitrary: message.map(toText) },
    { weight: 1, arbitrary: control },
    { weight: 1, arbitrary: value.map(toText) },
    { weight: 1, arbitrary: notJsonArb(message) },
  );
}

/** An HTTP publish body: a frame, or an array of messages (refused whole, or answered per element). */
export function bodyArb(columns: readonly string[], ids: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: frameArb(columns, ids) },
    { weight: 1, arbitrary: fc.array(messageArb(columns, ids), { maxLength: 4 }).map((items) => toText({ k: 'arr', items })) },
  );
}

/**
 * A text input that prints readably in a counterexample: a run of one short unit repeated (6000 brackets, 30 KB
 * of one character) is shown as `⟪unit⟫×count` instead of in full.
 */
export class Hostile {
  constructor(readonly text: string) {}

  [fc.toStringMethod](): string {
    return JSON.stringify(this.text.replace(/([^]{1,12}?)\1{15,}/g, (run, unit: string) => `⟪${unit}⟫×${run.length / unit.length}`));
  }
}
export const hostile = (arb: fc.Arbitrary<string>): fc.Arbitrary<Hostile> => arb.map((t) => new Hostile(t));

// ── query strings ──

const OPS = ['', '!', '>', '>~', '<', '<~', '~', '!~', '*', '!*'];
const CONTROLS = ['_c', '_sort', '_limit', '_offset', '_since', '_format', 'access_token', '_method', '_ref', '_reset'];
// Pieces no careful client writes: a bare or bad escape, UTF-8 of a lone surrogate (not UTF-8), an overlong NUL.
const RAW_PIECES = ['%', '%zz', '%ED%A0%80', '%C0%80', '%00', '%FF', '+', '=', '==', ';', '%26', '%3D', '&&'];

/** Percent-encodes a string's UTF-8, writing a lone surrogate as the three bytes a careless encoder emits. */
export function encodeQueryPart(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      out += encodeURIComponent(s.slice(i, i + 2));
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      out += [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    } else out += encodeURIComponent(s[i]!);
  }
  return out;
}

/**
 * A query string: filter keys with every operator suffix, transport and history controls, prototype member
 * names and random keys; values of every kind (numbers as written, lone surrogates, long text, column names
 * for `_c`/`_sort`); sometimes a key with no `=`; sometimes raw malformed pieces. `_wait` is never generated:
 * callers add a bounded one (a long-poll would otherwise wait up to 60 s).
 */
export function queryArb(columns: readonly string[]): fc.Arbitrary<string> {
  const key = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...columns, 'id', 'user', 'timestamp'), fc.constantFrom(...OPS)).map(([c, op]) => c + op) },
    { weight: 2, arbitrary: fc.constantFrom(...CONTROLS, ...PROTO_KEYS) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }).filter((k) => k !== '_wait') },
  );
  const value = fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...columns.flatMap((c) => [c, `-${c}`]), 'id', '-_seq', 'true', 'FALSE', '0', '-1', '007', '1.', '.5', '1e', '') },
    { weight: 2, arbitrary: numberText },
    { weight: 3, arbitrary: fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom(...ODD_STRINGS)) },
    // Past the 1000-character needle bound; short enough that the URL stays under Node's 16 KiB header limit.
    { weight: 1, arbitrary: fc.oneof(fc.integer({ min: 900, max: 1500 }).map((n) => 'a'.repeat(n)), fc.integer({ min: 100, max: 300 }).map((n) => 'é\ud800'.repeat(n))) },
  );
  const pair = fc
    .tuple(key, fc.option(value, { nil: null, freq: 6 }))
    .map(([k, v]) => (v === null ? encodeQueryPart(k) : `${encodeQueryPart(k)}=${encodeQueryPart(v)}`));
  // Filters that parse, so that reads get past the filter to the rows (and `open`'s pin is put to the test).
  const valid = fc.oneof(
    fc.tuple(fc.constantFrom(...columns.filter((c) => c !== 'n' && c !== 'r' && c !== 'b' && c !== 'length')), fc.constantFrom('', '!', '~', '!~', '*', '>', '<~'), fc.constantFrom('a', 'fuzz', 'other', 'x', 'é', '%', '_')).map(([c, op, v]) => `${c}${op}=${encodeQueryPart(v)}`),
    fc.tuple(fc.constantFrom('_c', '_sort'), fc.constantFrom(...columns, ...columns.map((c) => `-${c}`), 'id', '-id')).map(([k, v]) => `${k}=${encodeQueryPart(v)}`),
    fc.tuple(fc.constantFrom('_limit', '_offset'), fc.nat({ max: 5 })).map(([k, v]) => `${k}=${v}`),
  );
  const part = fc.oneof({ weight: 4, arbitrary: pair }, { weight: 3, arbitrary: valid }, { weight: 1, arbitrary: fc.constantFrom(...RAW_PIECES) });
  return fc
    .array(part, { maxLength: 6 })
    .map((parts) => parts.join('&'))
    .filter((q) => q.length < 8000);
}
