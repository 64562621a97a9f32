/**
 * @module expr/regex
 * Regular expressions in the sandbox, and the ReDoS stance.
 *
 * Only regex literals written in the config exist (a string is never turned into a pattern, so message data
 * can never supply one). At compile time `regexHazard` refuses the patterns that backtrack exponentially: a
 * repeated group that itself contains a quantifier (`(a+)+`, `(\w*)*`, `(a|b?)+`), and a repeated alternation
 * whose branches can start with the same character (`(a|ab)*`, `(\w|_)+`). What remains can still be
 * polynomial (`/\s+$/` is quadratic on a long run of spaces), so every regex operation refuses input longer
 * than `REGEX_INPUT_LIMIT`. Global and sticky regexes are shared by every evaluation of one expression, so each
 * operation resets `lastIndex` before using one.
 */

import { chargeChars, checkArray, checkString, type Ctx } from './context.js';
import { budget, runtime } from './fail.js';
import { REGEX_INPUT_LIMIT } from './limits.js';

/** What the scanner tracks for each open group of the pattern. */
interface Group {
  /** A quantifier occurs somewhere inside this group. */
  quantified: boolean;
  /** First character of each alternative, lower-cased for /i; null when it is not a plain literal. */
  firsts: (string | null)[];
  /** Whether the current alternative has seen its first atom yet. */
  started: boolean;
}

/** Why a pattern is refused, or null when it passes the cheap catastrophic-backtracking checks. */
export function regexHazard(source: string, flags: string): string | null {
  const fold = flags.includes('i');
  const root: Group = { quantified: false, firsts: [], started: false };
  const stack: Group[] = [root];
  // What a following quantifier would apply to. A field, not a variable: the `atom` closure updates it.
  const st: { last: Group | 'atom' | null } = { last: null };
  const top = (): Group => stack[stack.length - 1]!;
  const atom = (first: string | null): void => {
    const g = top();
    if (!g.started) {
      g.firsts.push(first === null ? null : fold ? first.toLowerCase() : first);
      g.started = true;
    }
    st.last = 'atom';
  };
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      const next = source[i + 1] ?? '';
      atom(/[A-Za-z0-9]/.test(next) ? null : next); // \d, \w, \1, \u…: a class or reference, not one literal
      i++;
    } else if (c === '[') {
      for (i++; i < source.length && source[i] !== ']'; i++) if (source[i] === '\\') i++;
      atom(null);
    } else if (c === '(') {
      const g: Group = { quantified: false, firsts: [], started: false };
      if (!top().started) atom(null);
      stack.push(g);
      st.last = null;
      const m = /^\?(?::|=|!|<=|<!|<[^>]*>)/.exec(source.slice(i + 1, i + 40));
      if (m) i += m[0].length;
    } else if (c === ')') {
      const g = stack.length > 1 ? stack.pop()! : root;
      if (!g.started && g.firsts.length > 0) g.firsts.push(null); // `(a|)`: a trailing empty alternative
      if (g.quantified) top().quantified = true;
      st.last = g;
    } else if (c === '|') {
      const g = top();
      if (!g.started) g.firsts.push(null); // an empty alternative matches the empty string
      g.started = false;
      st.last = null;
    } else if (c === '*' || c === '+' || c === '?' || c === '{') {
      const max = c === '*' || c === '+' ? Infinity : c === '?' ? 1 : braceMax(source, i);
      if (max === null) {
        atom('{'); // a literal brace
        continue;
      }
      if (c === '{') i = source.indexOf('}', i);
      if (source[i + 1] === '?') i++; // lazy quantifiers backtrack just the same
      top().quantified = true;
      const last = st.last;
      if (max > 1 && last !== null && last !== 'atom') {
        if (last.quantified) return 'a repeated group that contains a quantifier (nested quantifiers)';
        if (overlaps(last)) return 'a repeated alternation whose branches can match the same text';
      }
      st.last = null;
    } else {
      atom(c === '.' || c === '^' || c === '$' ? null : c);
    }
  }
  return null;
}

/** Upper bound of a `{n}`, `{n,}` or `{n,m}` quantifier at `i`, or null when the brace is a literal. */
function braceMax(source: string, i: number): number | null {
  const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i, i + 24));
  if (!m) return null;
  if (m[2] === undefined) return Number(m[1]);
  return m[3] === '' ? Infinity : Number(m[3]);
}

/** An alternation is safe to repeat when every branch starts with a distinct literal character. */
function overlaps(g: Group): boolean {
  if (g.firsts.length < 2) return false;
  const seen = new Set<string>();
  for (const f of g.firsts) {
    if (f === null || seen.has(f)) return true;
    seen.add(f);
  }
  return false;
}

/** Refuses regex input longer than the cap, and resets shared state. */
function prepare(cx: Ctx, re: RegExp, input: string): void {
  // One RegExp object serves every evaluation of a call site; its lastIndex is state to reset, not to trust.
  if (input.length > REGEX_INPUT_LIMIT) {
    budget(cx.path, `a regular expression applied to ${input.length} characters (the limit is ${REGEX_INPUT_LIMIT})`);
  }
  chargeChars(cx, input.length);
  re.lastIndex = 0;
}

/** `re.test(s)`. */
export function regexTest(cx: Ctx, re: RegExp, s: string): boolean {
  prepare(cx, re, s);
  const r = re.test(s);
  re.lastIndex = 0;
  return r;
}

/** `s.search(re)`. */
export function regexSearch(cx: Ctx, re: RegExp, s: string): number {
  prepare(cx, re, s);
  return s.search(re);
}

/**
 * `s.match(re)` as plain data: with /g an array of the matched strings; without, the match and its captures
 * as an array, plus `index` and `groups` (a plain object) like the native result, without `input`.
 */
export function regexMatch(cx: Ctx, re: RegExp, s: string): unknown {
  prepare(cx, re, s);
  if (!re.global) {
    const m = re.exec(s);
    re.lastIndex = 0;
    if (m === null) return null;
    const out: unknown[] & { index?: number; groups?: Record<string, string | undefined> } = Array.from(m);
    out.index = m.index;
    out.groups = m.groups ? { ...m.groups } : undefined;
    return out;
  }
  const found: string[] = [];
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    checkArray(cx, found.length + 1);
    found.push(m[0]);
    if (m[0] === '') re.lastIndex = advance(s, re.lastIndex, re.unicode || re.flags.includes('v'));
  }
  re.lastIndex = 0;
  return found.length > 0 ? found : null;
}

/** Where a global search resumes after an empty match: one code unit on, or one code point with /u and /v. */
function advance(s: string, i: number, unicode: boolean): number {
  if (!unicode || i + 1 >= s.length) return i + 1;
  const c = s.charCodeAt(i);
  return c >= 0xd800 && c <= 0xdbff ? i + 2 : i + 1;
}

/** `s.split(sep, limit)` that never builds more than the array limit allows. */
export function splitString(cx: Ctx, s: string, sep: RegExp | string | undefined, limit: number | undefined): string[] {
  if (sep instanceof RegExp) prepare(cx, sep, s);
  else chargeChars(cx, s.length);
  const cap = cx.limits.arrayLength + 1;
  const lim = limit === undefined ? cap : Math.min(limit >>> 0, cap);
  const parts = sep === undefined ? [s] : s.split(sep as string, lim);
  checkArray(cx, parts.length);
  return parts;
}

/**
 * `s.replace(pattern, replacement)` / `replaceAll`. The replacement is a string (function replacers are refused
 * before we get here); `$&`, `$1`, `$<name>`, `` $` `` and `$'` are expanded here, piece by piece, so the result
 * is refused as soon as it would pass the string limit instead of after it has been built.
 */
export function replaceString(cx: Ctx, s: string, pattern: RegExp | string, replacement: string, all: boolean): string {
  if (pattern instanceof RegExp) {
    if (all && !pattern.global) runtime(cx.path, 'replaceAll needs a global (/g) regular expression');
    prepare(cx, pattern, s);
  } else {
    chargeChars(cx, s.length);
  }
  const dollar = replacement.includes('$');
  let total = s.length;
  let matches = 0;
  const piece = (...args: unknown[]): string => {
    // Native replacer arguments: match, captures…, offset, input[, groups]
    const hasGroups = typeof args[args.length - 1] !== 'string';
    const end = args.length - (hasGroups ? 3 : 2);
    const matched = args[0] as string;
    const offset = args[end] as number;
    const out = dollar
      ? expand(cx, replacement, matched, offset, s, args.slice(1, end) as (string | undefined)[], hasGroups ? (args[args.length - 1] as Record<string, string | undefined> | undefined) : undefined)
      : replacement;
    total += out.length - matched.length;
    checkString(cx, total);
    if (++matches % 16 === 0) chargeChars(cx, 1024); // one step per 16 matches bounds the callback work
    return out;
  };
  const result = all ? s.replaceAll(pattern, piece) : s.replace(pattern, piece);
  if (pattern instanceof RegExp) pattern.lastIndex = 0;
  chargeChars(cx, result.length);
  return result;
}

/** GetSubstitution (ECMA-262 §22.1.3.19.1): the `$` patterns of a replacement string. */
function expand(
  cx: Ctx,
  rep: string,
  matched: string,
  position: number,
  str: string,
  captures: readonly (string | undefined)[],
  groups: Record<string, string | undefined> | undefined,
): string {
  let out = '';
  for (let i = 0; i < rep.length; i++) {
    const c = rep[i]!;
    const n = rep[i + 1];
    if (c !== '$' || n === undefined) {
      out += c;
    } else if (n === '$') {
      out += '$';
      i++;
    } else if (n === '&') {
      out += matched;
      i++;
    } else if (n === '`') {
      out += str.slice(0, position);
      i++;
    } else if (n === "'") {
      out += str.slice(position + matched.length);
      i++;
    } else if (n >= '0' && n <= '9') {
      const two = Number(rep.slice(i + 1, i + 3));
      const one = Number(n);
      if (/^\d\d$/.test(rep.slice(i + 1, i + 3)) && two >= 1 && two <= captures.length) {
        out += captures[two - 1] ?? '';
        i += 2;
      } else if (one >= 1 && one <= captures.length) {
        out += captures[one - 1] ?? '';
        i++;
      } else {
        out += '$';
      }
    } else if (n === '<' && groups !== undefined) {
      const close = rep.indexOf('>', i + 2);
      if (close < 0) {
        out += '$';
      } else {
        out += groups[rep.slice(i + 2, close)] ?? '';
        i = close;
      }
    } else {
      out += '$';
    }
    checkString(cx, out.length); // `$'$'$'…` could otherwise grow one piece far past the limit
  }
  return out;
}
