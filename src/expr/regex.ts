/**
 * @module expr/regex
 * Regular expressions in the sandbox, and the ReDoS stance.
 *
 * Only regex literals written in the config exist (a string is never turned into a pattern, so message data
 * can never supply one). At compile time `planRegex` (regex-plan.ts) refuses the patterns whose backtracking
 * is exponential or worse than quadratic, and classes the rest as linear or quadratic. Every operation then
 * charges the step budget for its worst case before it runs: linear patterns by input length times pattern
 * width, quadratic ones by the square of the input length, so a hook's regex work is bounded in time. Inputs
 * longer than `REGEX_INPUT_LIMIT` are refused outright. Global and sticky regexes are shared by every
 * evaluation of one expression, so each operation resets `lastIndex` before using one.
 */

import { chargeChars, chargeItems, chargeSteps, checkArray, checkString, type Ctx } from './context.js';
import { budget, runtime } from './fail.js';
import { CHARS_PER_STEP, MATCHES_PER_STEP, REGEX_INPUT_LIMIT, WEIGHT_SEARCH } from './limits.js';
import { planRegex, type RegexPlan } from './regex-plan.js';

/**
 * Character pairs (start position × character rescanned) per step of a quadratic search. Measured: V8 rescans
 * about one character per nanosecond (`/\s+$/` on 20 000 spaces takes 0.4 s), so one step is about 2 µs,
 * like the other units, and the default budget stops a quadratic pattern at about 4 500 characters.
 */
export const PAIRS_PER_STEP = 2048;

/** Plans of the regex literals compiled so far. A RegExp with no plan (none should exist) counts as quadratic. */
const PLANS = new WeakMap<RegExp, RegexPlan>();
const UNKNOWN: RegexPlan = { hazard: null, quadratic: true, weight: 1 };

/** Why a pattern is refused at compile time, or null. */
export function regexHazard(source: string, flags: string): string | null {
  return planRegex(source, flags).hazard;
}

/**
 * Checks a regex literal at compile time and remembers its cost class. Returns why it is refused, or null;
 * the caller names the pattern and the YAML path.
 */
export function admitRegex(re: RegExp): string | null {
  const plan = planRegex(re.source, re.flags);
  if (plan.hazard === null) PLANS.set(re, plan);
  return plan.hazard;
}

/** Steps a search of `re` over `n` characters may cost, by its plan. */
export function regexSteps(re: RegExp, n: number): number {
  const plan = PLANS.get(re) ?? UNKNOWN;
  return plan.quadratic ? Math.floor((n * n) / PAIRS_PER_STEP) * plan.weight : Math.floor((n * plan.weight) / CHARS_PER_STEP);
}

/** Refuses regex input longer than the cap, charges the search's worst case up front, and resets shared state. */
function prepare(cx: Ctx, re: RegExp, input: string): void {
  // One RegExp object serves every evaluation of a call site; its lastIndex is state to reset, not to trust.
  if (input.length > REGEX_INPUT_LIMIT) {
    budget(cx.path, `a regular expression applied to ${input.length} characters (the limit is ${REGEX_INPUT_LIMIT})`);
  }
  chargeSteps(cx, regexSteps(re, input.length));
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
    if (found.length % MATCHES_PER_STEP === 0) chargeSteps(cx, 1);
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
  else chargeChars(cx, (s.length + (sep?.length ?? 0)) * WEIGHT_SEARCH);
  const cap = cx.limits.arrayLength + 1;
  const lim = limit === undefined ? cap : Math.min(limit >>> 0, cap);
  const parts = sep === undefined ? [s] : s.split(sep as string, lim);
  checkArray(cx, parts.length);
  chargeItems(cx, parts.length);
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
    chargeChars(cx, (s.length + pattern.length) * WEIGHT_SEARCH);
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
    if (++matches % MATCHES_PER_STEP === 0) chargeSteps(cx, 1); // each piece costs a callback and a string
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
