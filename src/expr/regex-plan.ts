/**
 * @module expr/regex-plan
 * What a regex literal may cost, decided once at compile time. V8's engine backtracks, so a pattern's worst
 * case depends on its shape:
 *
 * - **Refused** (exponential, or a polynomial of degree ≥ 2 per match attempt, cubic or worse overall): a
 *   repeated group that contains a quantifier (`(a+)+`); a repeated alternation whose branches can start alike
 *   (`(a|ab)*`); two quantifiers of variable count that can meet with overlapping characters (`a*a*b`,
 *   `\d*\d*\d*x`, `\d+\.?\d*`, `\w+\s*\w+`), since every way of splitting a run between them is tried.
 * - **Quadratic**: an unanchored pattern with a long repetition followed by more pattern (`\s+$`, `\w+@`,
 *   `\s*,\s*`). Each start position inside a long run rescans the run, so a search costs up to n² on n
 *   characters. These are allowed and charged n² (see regex.ts), which bounds the input they get.
 * - **Linear**: anchored at the start (`^…` without /m), or every long repetition ends the pattern (`\s+`,
 *   `#\w+`, `https?://\S+`). Charged by input length times the pattern's width.
 *
 * Character sets are compared by probing: each quantified atom is compiled alone and tested against a fixed
 * sample of characters (all of Latin-1, a stride through the BMP, common spaces and a few astral ones). A
 * pattern whose sets overlap only outside the sample slips through as quadratic-or-linear; it is still bounded
 * by the charge and the input cap.
 */

import { MAX_NESTING } from './limits.js';

/** A parsed pattern element. */
type Item =
  | { readonly k: 'atom'; readonly src: string } // one character from a set (a literal, class, escape, `.`, backreference)
  | { readonly k: 'assert'; readonly src: string } // ^ $ \b \B: zero-width
  | { readonly k: 'group'; readonly alts: Item[][]; readonly look: boolean }
  | { readonly k: 'quant'; readonly body: Item; readonly min: number; readonly max: number };

/** A repetition longer than this rescans like an unbounded one. */
const LONG = 16;

/** The compile-time verdict on a pattern. */
export interface RegexPlan {
  /** Why the pattern is refused, or null. */
  readonly hazard: string | null;
  /** A search may rescan long runs: worst case quadratic in the input length. */
  readonly quadratic: boolean;
  /** Per-character work factor: 1 + one per 8 atoms the engine may try at each position. */
  readonly weight: number;
}

/** Analyses `source` (already a valid RegExp with `flags`). */
export function planRegex(source: string, flags: string): RegexPlan {
  const parser = new Parser(source, flags);
  let root: Item;
  try {
    root = parser.parse();
  } catch (err) {
    if (err instanceof TooDeep) return { hazard: `groups nested more than ${MAX_NESTING} deep`, quadratic: true, weight: 1 };
    throw err;
  }
  const sets = new Sets(flags);
  const hazard = check(root, sets);
  const anchored = !flags.includes('m') && root.k === 'group' && root.alts.every((alt) => alt[0]?.k === 'assert' && alt[0].src === '^');
  return { hazard, quadratic: !anchored && rescans(root, false), weight: 1 + Math.floor(width(root) / 8) };
}

class TooDeep extends Error {}

/** A small recursive-descent parser of ECMAScript pattern syntax, enough to see atoms, groups and quantifiers. */
class Parser {
  private i = 0;
  private depth = 0;
  private readonly sets: boolean;

  constructor(
    private readonly s: string,
    flags: string,
  ) {
    this.sets = flags.includes('v');
  }

  parse(): Item {
    return this.alternation(false);
  }

  private alternation(look: boolean): Item {
    if (++this.depth > MAX_NESTING) throw new TooDeep();
    const alts: Item[][] = [[]];
    while (this.i < this.s.length && this.s[this.i] !== ')') {
      if (this.s[this.i] === '|') {
        this.i++;
        alts.push([]);
        continue;
      }
      alts[alts.length - 1]!.push(this.quantified(this.item()));
    }
    this.depth--;
    return { k: 'group', alts, look };
  }

  private item(): Item {
    const s = this.s;
    const c = s[this.i]!;
    if (c === '(') {
      const head = /^\((\?(?:<=|<!|=|!|:|<[^>]*>))?/.exec(s.slice(this.i, this.i + 256))![0];
      this.i += head.length;
      const look = /^\(\?(?:<?[=!])/.test(head);
      const g = this.alternation(look);
      this.i++; // ')'
      return g;
    }
    if (c === '[') {
      const start = this.i;
      let nest = 0;
      for (this.i++; this.i < s.length; this.i++) {
        if (s[this.i] === '\\') this.i++;
        else if (this.sets && s[this.i] === '[') nest++;
        else if (s[this.i] === ']' && nest-- === 0) break;
      }
      this.i++;
      return { k: 'atom', src: s.slice(start, this.i) };
    }
    if (c === '\\') {
      const m = /^\\(?:[bB]|c[A-Za-z]|x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|[pP]\{[^}]*\}|k<[^>]*>|\d+|[\s\S])/.exec(s.slice(this.i, this.i + 64))!;
      this.i += m[0].length;
      if (m[0] === '\\b' || m[0] === '\\B') return { k: 'assert', src: m[0] };
      return { k: 'atom', src: m[0] };
    }
    this.i++;
    if (c === '^' || c === '$') return { k: 'assert', src: c };
    return { k: 'atom', src: c };
  }

  private quantified(body: Item): Item {
    const s = this.s;
    const c = s[this.i];
    let min: number;
    let max: number;
    if (c === '*' || c === '+' || c === '?') {
      this.i++;
      [min, max] = c === '*' ? [0, Infinity] : c === '+' ? [1, Infinity] : [0, 1];
    } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(s.slice(this.i, this.i + 48));
      if (m === null) return body; // a literal brace (outside /u), read as an atom next
      this.i += m[0].length;
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
    } else {
      return body;
    }
    if (s[this.i] === '?') this.i++; // lazy quantifiers backtrack just the same
    return { k: 'quant', body, min, max };
  }
}

/** Probe characters for set overlap. */
const PROBES: readonly string[] = (() => {
  const out: string[] = [];
  for (let c = 0; c < 0x180; c++) out.push(String.fromCharCode(c));
  for (let c = 0x180; c < 0x10000; c += 0x3f) if (c < 0xd800 || c > 0xdfff) out.push(String.fromCharCode(c));
  for (const c of [0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff, 0x4e2d, 0x0391, 0x03b1, 0x0430]) {
    out.push(String.fromCharCode(c));
  }
  for (const cp of [0x1f600, 0x1d4b3, 0x20000, 0x10400]) out.push(String.fromCodePoint(cp));
  return out;
})();

/** Character sets of atoms as probe bitmaps, memoized per pattern. */
class Sets {
  private readonly memo = new Map<string, Uint8Array>();
  private readonly flags: string;

  constructor(flags: string) {
    this.flags = flags.replace(/[gyd]/g, '');
  }

  /** The probes `src` (one atom) matches; every probe for a backreference or anything that does not compile. */
  of(src: string): Uint8Array {
    let set = this.memo.get(src);
    if (set !== undefined) return set;
    set = new Uint8Array(PROBES.length);
    let re: RegExp | null = null;
    if (!/^\\(?:[1-9]|k<)/.test(src)) {
      try {
        re = new RegExp(`^(?:${src})$`, this.flags);
      } catch {
        re = null;
      }
    }
    for (let p = 0; p < PROBES.length; p++) set[p] = re === null || re.test(PROBES[p]!) ? 1 : 0;
    this.memo.set(src, set);
    return set;
  }

  /** Every character `item` can consume (lookarounds consume none). */
  consumed(item: Item, into: Uint8Array = new Uint8Array(PROBES.length)): Uint8Array {
    switch (item.k) {
      case 'atom': {
        const set = this.of(item.src);
        for (let p = 0; p < set.length; p++) into[p] |= set[p]!;
        break;
      }
      case 'quant':
        this.consumed(item.body, into);
        break;
      case 'group':
        if (!item.look) for (const alt of item.alts) for (const x of alt) this.consumed(x, into);
        break;
      default:
        break;
    }
    return into;
  }

  /**
   * The characters through which `item` can meet a neighbour: a repetition of more than one can trade whole
   * iterations with it, so all it consumes; anything else only its first (`head`) or last characters.
   */
  meeting(item: Item, head: boolean): Uint8Array {
    if (item.k === 'quant' && item.max > 1) return this.consumed(item);
    return this.edge(item, head, new Uint8Array(PROBES.length));
  }

  /** Characters `item` can start (`head`) or end with. */
  private edge(item: Item, head: boolean, into: Uint8Array): Uint8Array {
    if (item.k === 'atom') return this.consumed(item, into);
    if (item.k === 'quant') return this.edge(item.body, head, into);
    if (item.k === 'group' && !item.look) {
      for (const alt of item.alts) {
        for (let n = 0; n < alt.length; n++) {
          const x = alt[head ? n : alt.length - 1 - n]!;
          this.edge(x, head, into);
          if (!nullable(x)) break;
        }
      }
    }
    return into;
  }

  /** Characters an alternative can start with; null when it can match the empty string. */
  firsts(alt: readonly Item[]): Uint8Array | null {
    const into = new Uint8Array(PROBES.length);
    for (const x of alt) {
      this.consumed(x, into);
      if (!nullable(x)) return into;
    }
    return null;
  }
}

function overlap(a: Uint8Array, b: Uint8Array): boolean {
  for (let p = 0; p < a.length; p++) if (a[p]! & b[p]!) return true;
  return false;
}

/** Whether `item` can match the empty string. */
function nullable(item: Item): boolean {
  switch (item.k) {
    case 'atom':
      return false;
    case 'assert':
      return true;
    case 'quant':
      return item.min === 0 || nullable(item.body);
    case 'group':
      return item.look || item.alts.some((alt) => alt.every(nullable));
  }
}

/** Whether `item` matches a variable number of characters through some quantifier. */
function variable(item: Item): boolean {
  switch (item.k) {
    case 'quant':
      return item.min < item.max || variable(item.body);
    case 'group':
      return !item.look && item.alts.some((alt) => alt.some(variable));
    default:
      return false;
  }
}

/** The first hazard in `item`, depth first, or null. */
function check(item: Item, sets: Sets): string | null {
  if (item.k === 'quant') {
    if (item.max > 1) {
      if (variable(item.body)) {
        return 'a repeated group that contains a quantifier (nested quantifiers)';
      }
      if (item.body.k === 'group' && item.body.alts.length > 1) {
        const firsts = item.body.alts.map((alt) => sets.firsts(alt));
        for (let a = 0; a < firsts.length; a++) {
          for (let b = a + 1; b < firsts.length; b++) {
            const x = firsts[a]!;
            const y = firsts[b]!;
            if (x === null || y === null || overlap(x, y)) return 'a repeated alternation whose branches can match the same text';
          }
        }
      }
    }
    return check(item.body, sets);
  }
  if (item.k !== 'group') return null;
  for (const alt of item.alts) {
    for (let j = 0; j < alt.length; j++) {
      const inner = check(alt[j]!, sets);
      if (inner !== null) return inner;
      if (!variable(alt[j]!)) continue;
      // Look back over what can match nothing for an earlier variable quantifier that wants the same characters.
      for (let i = j - 1; i >= 0; i--) {
        const prev = alt[i]!;
        if (variable(prev) && overlap(sets.meeting(prev, false), sets.meeting(alt[j]!, true))) {
          return 'two quantifiers in a row whose characters overlap (every split of a run between them is tried)';
        }
        if (!nullable(prev)) break;
      }
    }
  }
  return null;
}

/** Whether a long repetition is followed by more pattern that can fail after it (the rescanning shape). */
function rescans(item: Item, followed: boolean): boolean {
  if (item.k === 'quant') return (item.max > LONG && followed) || rescans(item.body, followed);
  if (item.k !== 'group') return false;
  return item.alts.some((alt) => alt.some((x, i) => rescans(x, followed || i < alt.length - 1)));
}

/** Atoms the engine may try at one position, bounded repetitions counted up to `LONG`. */
function width(item: Item): number {
  switch (item.k) {
    case 'atom':
      return 1;
    case 'assert':
      return 0;
    case 'quant':
      return width(item.body) * Math.max(1, Math.min(item.max, LONG));
    case 'group':
      return item.alts.reduce((n, alt) => n + alt.reduce((m, x) => m + width(x), 0), 0);
  }
}
