/**
 * @module expr/compile-data
 * Array, object and template literals. Everything they build is fresh, writable plain data; sizes are checked
 * before the spread or concatenation that would pass a limit, and object keys go through the same forbidden
 * list as member access (`{__proto__: …}` and `{['__pro' + 'to__']: …}` alike).
 */

import { assignOwn, toKey } from './access.js';
import { expand } from './compile-call.js';
import { compileNode, compileValue, identifier } from './compile.js';
import { chargeChars, checkArray, checkString, type Ctx } from './context.js';
import { forbidden } from './fail.js';
import { WEIGHT_BUILD } from './limits.js';
import { node, type C, type Lex } from './lex.js';
import { liftN, safe } from './lift.js';
import { checkKeyStatic } from './own.js';
import type { Node } from './parse.js';
import { toStr } from './values.js';

/** An array hole (`[1, , 3]`) compiles as `undefined`: results are dense plain data. */
const HOLE: Node = { type: 'Identifier', name: 'undefined' };

/** `[a, ...b, c]`. */
export function compileArray(n: Node, lex: Lex): C {
  const elements = (n.elements as (Node | null)[]).map((e) => e ?? HOLE);
  const spread = elements.map((e) => e.type === 'SpreadElement');
  const cs = elements.map((e) => compileValue(e.type === 'SpreadElement' ? (e.argument as Node) : e, lex));
  const anySpread = spread.includes(true);
  const run = liftN(cs, (cx, vals) => {
    const out = anySpread ? expand(cx, vals, spread) : vals;
    checkArray(cx, out.length);
    return out;
  });
  return node(run, false, cs.some((c) => c.async));
}

/** One entry of an object literal, compiled. */
type Entry = { readonly kind: 'key'; readonly key: string } | { readonly kind: 'computed' } | { readonly kind: 'spread' };

/** `{a: 1, b, [k]: v, ...o}`. */
export function compileObject(n: Node, lex: Lex): C {
  const entries: Entry[] = [];
  const cs: C[] = [];
  for (const p of n.properties as Node[]) {
    if (p.type === 'SpreadElement') {
      entries.push({ kind: 'spread' });
      cs.push(compileValue(p.argument as Node, lex));
    } else if (p.type === 'Property' && p.computed) {
      entries.push({ kind: 'computed' });
      cs.push(compileNode(p.key as Node, lex), compileValue(p.value as Node, lex));
    } else if (p.type === 'Property') {
      const k = p.key as Node;
      const key = k.type === 'Identifier' ? (k.name as string) : k.type === 'Literal' && typeof k.value !== 'object' ? String(k.value) : null;
      if (key === null) return forbidden(lex.path, 'this kind of object key');
      checkKeyStatic(key, lex.path);
      entries.push({ kind: 'key', key });
      cs.push(p.shorthand ? safe(identifier(key, lex)) : compileValue(p.value as Node, lex)); // `{handler}` stores a copy
    } else {
      return forbidden(lex.path, `"${p.type}" inside an object literal (getters, methods, defaults)`);
    }
  }
  const run = liftN(cs, (cx, vals) => build(cx, entries, vals));
  return node(run, false, cs.some((c) => c.async));
}

/** Builds the object from evaluated values, in source order (later keys win, as in JavaScript). */
function build(cx: Ctx, entries: readonly Entry[], vals: readonly unknown[]): Record<string, unknown> {
  // A plain {}: its prototype's only setter is __proto__, which no key can be, so assignment defines.
  const out: Record<string | number, unknown> = {};
  let i = 0;
  for (const e of entries) {
    if (e.kind === 'key') out[e.key] = vals[i++];
    else if (e.kind === 'spread') assignOwn(cx, out, vals[i++]);
    else {
      const key = toKey(cx, vals[i++]);
      out[key] = vals[i++];
    }
  }
  return out;
}

/** `` `text ${expr} text` ``: values converted by the sandbox, the length checked and charged as it grows. */
export function compileTemplate(n: Node, lex: Lex): C {
  const quasis = (n.quasis as Node[]).map((q) => (q.value as { cooked: string }).cooked);
  const cs = (n.expressions as Node[]).map((e) => compileNode(e, lex)); // converted to strings: no copy needed
  const run = liftN(cs, (cx, vals) => {
    let s = quasis[0]!;
    for (let i = 0; i < vals.length; i++) {
      const piece = toStr(cx, vals[i]);
      const next = quasis[i + 1] ?? '';
      const length = s.length + piece.length + next.length;
      checkString(cx, length);
      chargeChars(cx, length * WEIGHT_BUILD); // each piece re-reads the prefix: the same as a chain of `+`
      s += piece + next;
    }
    return s;
  });
  return node(run, false, cs.some((c) => c.async));
}
