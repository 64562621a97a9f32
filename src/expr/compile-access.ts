/**
 * @module expr/compile-access
 * Member chains (`a.b`, `a[k]`, `a?.b`), assignments (`msg.x = …`, `+=`, `??=`, …) and `++`/`--`.
 * Static facts are settled here at compile time: forbidden member names, assignments to a root itself or to a
 * read-only root (`handler.x = 1`), helper constants (`Math.PI`). What can only be known at run time (computed
 * keys, frozen snapshots, accessors) is checked by `access.ts`.
 */

import { after, evalAll, map, Pending } from './async.js';
import { getMember, setMember, toKey } from './access.js';
import { compileCall } from './compile-call.js';
import { compileNode, compileValue } from './compile.js';
import { step, type Ctx, type Run } from './context.js';
import { forbidden } from './fail.js';
import { node, resolve, SHORT, type C, type Lex } from './lex.js';
import { unshort } from './lift.js';
import { BINARY_OPS } from './operators.js';
import { checkKeyStatic } from './own.js';
import type { Node } from './parse.js';
import { toNum } from './values.js';

/**
 * The key of `a.b` or `a['b']` / `a[0]` when it is written literally (checked against the forbidden names
 * now), or undefined when it is computed at run time.
 */
export function staticKey(n: Node, lex: Lex): string | number | undefined {
  const p = n.property as Node;
  let key: string | number;
  if (!n.computed) key = p.name as string;
  else if (p.type === 'Literal' && (typeof p.value === 'string' || typeof p.value === 'number')) key = p.value;
  else return undefined;
  if (typeof key === 'number') return Number.isInteger(key) && key >= 0 ? key : String(key);
  checkKeyStatic(key, lex.path);
  return key;
}

/** The root identifier of a member chain, for messages. */
export function rootName(n: Node): string {
  let cur = n;
  while (cur.type === 'MemberExpression' || cur.type === 'CallExpression') cur = (cur.object ?? cur.callee) as Node;
  return cur.type === 'Identifier' ? (cur.name as string) : 'this value';
}

/**
 * The object part of a member access or method call. Inside a chain, members and calls are compiled as chain
 * links (they may yield the short-circuit marker).
 */
export function compileChainObject(n: Node, lex: Lex): C {
  if (n.type === 'MemberExpression') return compileMember(n, lex, false);
  if (n.type === 'CallExpression') return compileCall(n, lex, false);
  return compileNode(n, lex);
}

/** `obj.key`, `obj[key]`, `obj?.key`. `top` is false for a link inside a longer chain. */
export function compileMember(n: Node, lex: Lex, top: boolean): C {
  const objNode = n.object as Node;
  if (objNode.type === 'Identifier') {
    const ref = resolve(objNode.name as string, lex);
    if (ref.kind === 'helper') return helperMember(n, objNode.name as string, ref.ns?.consts, lex);
    if (ref.kind === 'module') return moduleMember(n, ref.name, ref.ns, lex);
  }
  const obj = compileChainObject(objNode, lex);
  const optional = n.optional === true;
  const short = obj.short || optional;
  const sk = staticKey(n, lex);
  const key = sk === undefined ? compileNode(n.property as Node, lex) : null;
  const or = obj.run;
  let run: Run;
  if (key === null && !short && !obj.async) {
    // The hot path: msg.body, handler.current_user.id
    const k = sk!;
    run = (cx) => {
      step(cx);
      return getMember(cx, or(cx), k);
    };
  } else {
    const kr = key?.run;
    const read = (cx: Ctx, o: unknown): unknown => {
      if (o === SHORT || (optional && (o === null || o === undefined))) return SHORT;
      if (kr === undefined) return getMember(cx, o, sk!);
      return map(kr(cx), (k) => getMember(cx, o, toKey(cx, k)));
    };
    run = (cx) => {
      step(cx);
      const o = or(cx);
      return o instanceof Pending ? after(o, (v) => read(cx, v)) : read(cx, o);
    };
  }
  const c = node(run, obj.ro, obj.async || (key?.async ?? false), short);
  return top ? unshort(c) : c;
}

/** `Math.PI`: a helper namespace constant. Any other member of a helper is refused. */
function helperMember(n: Node, name: string, consts: ReadonlyMap<string, unknown> | undefined, lex: Lex): C {
  // Constants are resolved now; reading a helper function (`Math.max`) is refused as it would hand one out.
  const key = staticKey(n, lex);
  if (key !== undefined && consts?.has(String(key))) {
    const value = consts.get(String(key));
    return node((cx) => {
      step(cx);
      return value;
    }, false, false);
  }
  return forbidden(lex.path, `${name}.${key ?? '[…]'} as a value (helpers can only be called)`);
}

/**
 * `mod.NAME`: an export of a trusted module, read-only. Exports are read with a plain get because module
 * loaders may define them as accessors (live bindings; vitest's runner does); functions are still refused.
 */
function moduleMember(n: Node, name: string, ns: Readonly<Record<string, unknown>>, lex: Lex): C {
  const key = staticKey(n, lex);
  if (key === undefined || n.optional) return forbidden(lex.path, `a computed or optional member of the module "${name}"`);
  if (typeof exportOf(ns, String(key)) === 'function') return forbidden(lex.path, `${name}.${key} as a value (call it: ${name}.${key}(…))`);
  return node((cx) => {
    step(cx);
    const v = exportOf(ns, String(key));
    if (typeof v === 'function') return forbidden(cx.path, `${name}.${key} as a value (call it: ${name}.${key}(…))`);
    return v;
  }, true, false);
}

/** An own export of a module namespace (data or live-binding accessor), or undefined. */
export function exportOf(ns: object, key: string): unknown {
  return Object.hasOwn(ns, key) ? (ns as Record<string, unknown>)[key] : undefined;
}

/** The parts of an assignment target `obj[key]`: the object, and the key either literal (`sk`) or computed. */
interface Target {
  readonly obj: C;
  readonly sk: string | number | undefined;
  readonly key: C | null;
}

/** The `obj[key]` being assigned: never a root itself, never under a read-only root, never optional. */
function target(left: Node, lex: Lex): Target {
  if (left.type === 'Identifier') {
    const name = left.name as string;
    return forbidden(lex.path, `an assignment to "${name}" itself (assign to its members, e.g. ${name}.key = …)`);
  }
  if (left.type !== 'MemberExpression') return forbidden(lex.path, `an assignment to a ${left.type}`);
  for (let cur: Node = left; cur.type === 'MemberExpression' || cur.type === 'CallExpression'; cur = (cur.object ?? cur.callee) as Node) {
    if (cur.optional) return forbidden(lex.path, 'optional chaining (?.) on the left of an assignment');
  }
  const objNode = left.object as Node;
  if (objNode.type === 'Identifier' && resolve(objNode.name as string, lex).kind === 'helper') {
    return forbidden(lex.path, `a write to ${objNode.name as string}`);
  }
  const obj = compileChainObject(objNode, lex);
  if (obj.ro) return forbidden(lex.path, `a write under "${rootName(left)}" (it is read-only here)`);
  const sk = staticKey(left, lex);
  return { obj, sk, key: sk === undefined ? compileNode(left.property as Node, lex) : null };
}

/** Evaluates the target's object and key (in that order), then continues with `k`. */
function withTarget(t: Target, k: (cx: Ctx, o: unknown, key: string | number) => unknown): Run {
  const or = t.obj.run;
  const kr = t.key?.run;
  const sk = t.sk;
  if (kr === undefined) return (cx) => map(or(cx), (o) => k(cx, o, sk!));
  return (cx) => evalAll(cx, [or, kr], [undefined, undefined], 0, (v) => k(cx, v[0], toKey(cx, v[1])));
}

/** `obj.key = value` and the compound forms. */
export function compileAssign(n: Node, lex: Lex): C {
  const t = target(n.left as Node, lex);
  const op = n.operator as string;
  const rhs = compileValue(n.right as Node, lex);
  const rr = rhs.run;
  const async = t.obj.async || (t.key?.async ?? false) || rhs.async;

  if (op === '=' && t.key === null && !async) {
    // The hot path: msg.x = …
    const or = t.obj.run;
    const k = t.sk!;
    return node((cx) => {
      step(cx);
      const o = or(cx);
      const v = rr(cx);
      setMember(cx, o, k, v);
      return v;
    }, false, false);
  }

  // The general path: computed keys, compound operators and async operands. The order is JavaScript's: object,
  // key, (current value,) right side, then the write.
  const set = (cx: Ctx, o: unknown, key: string | number, v: unknown): unknown => {
    setMember(cx, o, key, v);
    return v;
  };
  let apply: (cx: Ctx, o: unknown, key: string | number) => unknown;
  if (op === '=') {
    apply = (cx, o, key) => map(rr(cx), (v) => set(cx, o, key, v));
  } else if (op === '||=' || op === '&&=' || op === '??=') {
    const keep = op === '||=' ? (v: unknown) => !!v : op === '&&=' ? (v: unknown) => !v : (v: unknown) => v !== null && v !== undefined;
    apply = (cx, o, key) => {
      const cur = getMember(cx, o, key);
      return keep(cur) ? cur : map(rr(cx), (v) => set(cx, o, key, v));
    };
  } else {
    const bin = BINARY_OPS.get(op.slice(0, -1));
    if (bin === undefined) return forbidden(lex.path, `the operator "${op}"`);
    apply = (cx, o, key) => {
      const cur = getMember(cx, o, key);
      return map(rr(cx), (v) => set(cx, o, key, bin(cx, cur, v)));
    };
  }
  const run = withTarget(t, apply);
  return node((cx) => {
    step(cx);
    return run(cx);
  }, false, async);
}

/** `obj.key++`, `--obj.key`. */
export function compileUpdate(n: Node, lex: Lex): C {
  const t = target(n.argument as Node, lex);
  const delta = n.operator === '++' ? 1 : -1;
  const prefix = n.prefix === true;
  const run = withTarget(t, (cx, o, key) => {
    const old = toNum(cx, getMember(cx, o, key));
    setMember(cx, o, key, old + delta);
    return prefix ? old + delta : old;
  });
  return node((cx) => {
    step(cx);
    return run(cx);
  }, false, t.obj.async || (t.key?.async ?? false));
}
