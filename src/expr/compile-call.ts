/**
 * @module expr/compile-call
 * Calls. Exactly three things are callable, each decided at compile time from the shape of the callee:
 *
 * - a helper: `uuid()`, `Math.max(…)`, `JSON.parse(…)`;
 * - a module function named statically, `mymodule.fn(…)` (resolved now, so a typo fails at load); it receives
 *   the real values (module code is trusted), may return a promise, and rejects the message by throwing;
 * - an allowlisted method of a string, number, boolean, array or regex literal (`methods.ts`), checked again
 *   at run time against the receiver's actual kind.
 *
 * Arrow functions exist only as arguments of array methods, regex literals only as method arguments or as the
 * receiver of `.test()`.
 */

import { after, evalAll, isThenable, map, Pending } from './async.js';
import { toKey } from './access.js';
import { Callback } from './callback.js';
import { compileChainObject, exportOf, rootName, staticKey } from './compile-access.js';
import { compileNode, compileValue } from './compile.js';
import { checkArray, step, type Ctx, type Run } from './context.js';
import { MhError } from '../errors.js';
import { forbidden, runtime } from './fail.js';
import type { Helper } from './helpers.js';
import { node, resolve, SHORT, type C, type Lex } from './lex.js';
import { safe, unshort } from './lift.js';
import { callMethod, METHOD_NAMES, MUTATING_NAMES } from './methods.js';
import { describe, readOwn } from './own.js';
import type { Node } from './parse.js';
import { admitRegex } from './regex.js';

/**
 * How call arguments are compiled. `helper-raw`: a helper that only reads, so read-only values go in uncopied;
 * `helper`: a helper whose result may contain its arguments (copied first); `method`: arrows and regex literals
 * allowed, values copied; `module`: trusted code, real values, regex literals as fresh copies.
 */
type ArgMode = 'helper-raw' | 'helper' | 'method' | 'module';

/** Compiled arguments: one closure that yields the argument array (or a Pending of it). */
interface Args {
  readonly run: (cx: Ctx) => unknown;
  readonly async: boolean;
}

const NO_ARGS: readonly unknown[] = Object.freeze([]);

/** `f(…)`, `ns.f(…)`, `mod.f(…)`, `x.method(…)`. `top` is false for a link inside a longer chain. */
export function compileCall(n: Node, lex: Lex, top: boolean): C {
  if (n.optional) return forbidden(lex.path, 'optional calls (f?.())');
  const callee = n.callee as Node;
  const argNodes = n.arguments as Node[];
  if (callee.type === 'Identifier') {
    const name = callee.name as string;
    const ref = resolve(name, lex);
    if (ref.kind === 'helper' && ref.fn) return helperCall(ref.fn, argNodes, lex);
    return forbidden(lex.path, `a call to "${name}" (only helpers, module functions and allowlisted methods can be called)`);
  }
  if (callee.type !== 'MemberExpression') {
    return forbidden(lex.path, 'a call of a computed value (only helpers, module functions and allowlisted methods can be called)');
  }
  const objNode = callee.object as Node;
  if (objNode.type === 'Identifier' && !callee.optional) {
    const ref = resolve(objNode.name as string, lex);
    if (ref.kind === 'helper') {
      const key = staticKey(callee, lex);
      const fn = key === undefined ? undefined : ref.ns?.fns.get(String(key));
      if (fn === undefined) return forbidden(lex.path, `a call to ${ref.name}.${key ?? '[…]'} (not a helper)`);
      return helperCall(fn, argNodes, lex);
    }
  }
  const mod = moduleFunction(callee, lex);
  if (mod !== null) return moduleCall(mod, argNodes, lex);
  const c = methodCall(callee, argNodes, lex);
  return top ? unshort(c) : c;
}

/** A call of a helper; its arguments are evaluated first (awaited if a module call among them went async). */
function helperCall(fn: Helper, argNodes: readonly Node[], lex: Lex): C {
  const args = compileArgs(argNodes, lex, fn.readsOnly ? 'helper-raw' : 'helper');
  const ar = args.run;
  const run: Run = args.async
    ? (cx) => {
        step(cx);
        return map(ar(cx), (a) => fn.call(cx, a as unknown[]));
      }
    : (cx) => {
        step(cx);
        return fn.call(cx, ar(cx) as unknown[]);
      };
  return node(run, false, args.async);
}

/** A module function resolved at compile time. */
interface ModuleFn {
  readonly fn: (...args: unknown[]) => unknown;
  readonly self: unknown;
  readonly label: string;
}

/** `mod.a.b(…)` with a module at the root and literal names all the way: the function, found now. */
function moduleFunction(callee: Node, lex: Lex): ModuleFn | null {
  const keys: string[] = [];
  let cur = callee;
  while (cur.type === 'MemberExpression') {
    const key = cur.optional ? undefined : staticKey(cur, lex);
    if (key === undefined) return isModuleRooted(cur, lex) ? forbidden(lex.path, 'a module function called by a computed name') : null;
    keys.unshift(String(key));
    cur = cur.object as Node;
  }
  if (cur.type !== 'Identifier') return null;
  const ref = resolve(cur.name as string, lex);
  if (ref.kind !== 'module') return null;
  const label = [ref.name, ...keys].join('.');
  let self: unknown = ref.ns;
  let value: unknown = ref.ns;
  for (const key of keys) {
    self = value;
    value = (typeof value === 'object' || typeof value === 'function') && value !== null ? exportOf(value, key) : undefined;
  }
  if (typeof value !== 'function') return forbidden(lex.path, `${label} (module "${ref.name}" exports no such function)`);
  return { fn: value as ModuleFn['fn'], self, label };
}

/** Whether a member chain starts at a module name (that no parameter or scope name shadows). */
function isModuleRooted(n: Node, lex: Lex): boolean {
  const root = rootName(n);
  return Object.hasOwn(lex.modules, root) && resolve(root, lex).kind === 'module';
}

/**
 * A call of a module function. It is async-capable unless it sits in an arrow body: there the compiler promises
 * the array method a synchronous value, and `callModule` enforces it.
 */
function moduleCall(mod: ModuleFn, argNodes: readonly Node[], lex: Lex): C {
  const args = compileArgs(argNodes, lex, 'module');
  const ar = args.run;
  const sync = lex.inCallback;
  const run: Run = (cx) => {
    step(cx);
    const a = ar(cx);
    return a instanceof Pending ? after(a, (v) => callModule(cx, mod, v as unknown[], sync)) : callModule(cx, mod, a as unknown[], sync);
  };
  return node(run, false, args.async || !sync);
}

/**
 * Calls trusted module code. Its errors are the app's way of refusing a message: an MhError passes through,
 * anything else becomes MH_ERR_MSG_REJECTED with the error's message. A promise makes the evaluation
 * asynchronous, except inside an arrow body, where the array method needs the value now.
 */
function callModule(cx: Ctx, mod: ModuleFn, args: unknown[], sync: boolean): unknown {
  let r: unknown;
  try {
    r = Reflect.apply(mod.fn, mod.self, args);
  } catch (err) {
    throw rejection(err);
  }
  if (!isThenable(r)) return moduleResult(cx, mod, r);
  const p = Promise.resolve(r);
  if (sync) {
    p.catch(() => undefined); // nobody will await it: keep its failure from becoming an unhandled rejection
    return runtime(cx.path, `${mod.label}() returned a promise inside an arrow function (call it outside map/filter/…)`);
  }
  return new Pending(
    p.then(
      (v) => moduleResult(cx, mod, v),
      (err: unknown) => {
        throw rejection(err);
      },
    ),
  );
}

/** A module's result is trusted data, but a function in it would be a host function handed to the sandbox. */
function moduleResult(cx: Ctx, mod: ModuleFn, v: unknown): unknown {
  if (typeof v === 'function') return forbidden(cx.path, `the function returned by ${mod.label}()`);
  return v;
}

/** What a module's throw means to the client: its own MhError, or a rejection carrying its message. */
function rejection(err: unknown): MhError {
  if (err instanceof MhError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new MhError('MH_ERR_MSG_REJECTED', [], { message, cause: err });
}

/** `recv.name(…)` / `recv[name](…)` / `recv?.name(…)` on an allowlisted method. */
function methodCall(callee: Node, argNodes: readonly Node[], lex: Lex): C {
  // A method name written out can be checked now; a computed one is checked by callMethod on every call.
  const sk = staticKey(callee, lex);
  if (sk !== undefined && !METHOD_NAMES.has(String(sk))) {
    return forbidden(lex.path, `a call to "${sk}" (not an allowlisted method)`);
  }
  const recvNode = callee.object as Node;
  let recv = isRegexLiteral(recvNode) ? regexLiteral(recvNode, lex) : compileChainObject(recvNode, lex);
  if (recv.ro && sk !== undefined && MUTATING_NAMES.has(String(sk))) {
    return forbidden(lex.path, `"${sk}" on "${rootName(recvNode)}" (it is read-only here)`);
  }
  recv = safe(recv); // the method may hand out elements: a read-only receiver is copied first
  const name = sk === undefined ? compileNode(callee.property as Node, lex) : null;
  const args = compileArgs(argNodes, lex, 'method');
  const optional = callee.optional === true;
  const rr = recv.run;
  const nr = name?.run;
  const ar = args.run;
  const finish = (cx: Ctx, o: unknown, key: unknown, a: unknown): unknown =>
    callMethod(cx, o, sk === undefined ? String(toKey(cx, key)) : String(sk), a as unknown[]);
  const async = recv.async || (name?.async ?? false) || args.async;
  // JavaScript order: receiver, then the computed name, then the arguments; an optional receiver that is
  // nullish skips the rest of the chain without evaluating the arguments.
  let run: Run;
  if (!async && nr === undefined) {
    run = (cx) => {
      step(cx);
      const o = rr(cx);
      if (o === SHORT || (optional && (o === null || o === undefined))) return SHORT;
      return finish(cx, o, undefined, ar(cx));
    };
  } else {
    const rest = (cx: Ctx, o: unknown): unknown => {
      if (o === SHORT || (optional && (o === null || o === undefined))) return SHORT;
      const runs: Run[] = nr === undefined ? [ar] : [nr, ar];
      return evalAll(cx, runs, [], 0, (v) => (nr === undefined ? finish(cx, o, undefined, v[0]) : finish(cx, o, v[0], v[1])));
    };
    run = (cx) => {
      step(cx);
      const o = rr(cx);
      return o instanceof Pending ? after(o, (v) => rest(cx, v)) : rest(cx, o);
    };
  }
  return node(run, false, async, recv.short || optional);
}

/** jsep's regex plugin produces a Literal whose value is already a RegExp. */
function isRegexLiteral(n: Node): boolean {
  return n.type === 'Literal' && n.value instanceof RegExp;
}

/**
 * A regex literal, checked for catastrophic backtracking and classed by cost (regex-plan.ts). One RegExp per
 * call site, reset before each use.
 */
function regexLiteral(n: Node, lex: Lex): C {
  const re = n.value as RegExp;
  const hazard = admitRegex(re);
  if (hazard !== null) return forbidden(lex.path, `the regular expression ${String(n.raw)}: ${hazard}`);
  return node((cx) => {
    step(cx);
    return re;
  }, false, false);
}

/** An arrow function argument: its body compiled with its parameters in scope, run only by array methods. */
function arrow(n: Node, lex: Lex): C {
  const params = (n.params as Node[] | null) ?? [];
  const names = params.map((p) => {
    if (p.type !== 'Identifier') return forbidden(lex.path, 'arrow parameters other than plain names (no defaults or destructuring)');
    return p.name as string;
  });
  if (new Set(names).size !== names.length) return forbidden(lex.path, 'duplicate arrow parameter names');
  const inner: Lex = { ...lex, params: [...lex.params, names], inCallback: true };
  const body = compileValue(n.body as Node, inner).run;
  return node((cx) => {
    step(cx);
    return new Callback(body, cx.frame);
  }, false, false);
}

/** One argument, compiled for its call kind (see ArgMode). */
function compileArg(n: Node, lex: Lex, mode: ArgMode): C {
  if (n.type === 'ArrowFunctionExpression') {
    if (mode === 'method') return arrow(n, lex);
    return forbidden(lex.path, 'an arrow function as an argument of a helper or module function');
  }
  if (isRegexLiteral(n)) {
    if (mode === 'method') return regexLiteral(n, lex);
    if (mode === 'module') {
      const re = regexLiteral(n, lex).run;
      return node((cx) => new RegExp(re(cx) as RegExp), false, false); // modules get their own copy
    }
  }
  // Module code is trusted with real values; read-only helpers only inspect theirs.
  return mode === 'module' || mode === 'helper-raw' ? compileNode(n, lex) : compileValue(n, lex);
}

/** Compiles an argument list, spreads included (`f(...xs)`). */
function compileArgs(nodes: readonly Node[], lex: Lex, mode: ArgMode): Args {
  if (nodes.length === 0) return { run: () => NO_ARGS, async: false };
  const spread = nodes.map((n) => n.type === 'SpreadElement');
  const cs = nodes.map((n) => (n.type === 'SpreadElement' ? compileValue(n.argument as Node, lex) : compileArg(n, lex, mode)));
  const runs = cs.map((c) => c.run);
  const anySpread = spread.includes(true);
  const build = (cx: Ctx, vals: unknown[]): unknown[] => (anySpread ? expand(cx, vals, spread) : vals);
  if (!cs.some((c) => c.async)) {
    return {
      run: (cx) => {
        const vals = new Array<unknown>(runs.length);
        for (let i = 0; i < runs.length; i++) vals[i] = runs[i]!(cx);
        return build(cx, vals);
      },
      async: false,
    };
  }
  return { run: (cx) => evalAll(cx, runs, new Array<unknown>(runs.length), 0, (v) => build(cx, v)), async: true };
}

/** Flattens spread arguments into the list, within the array limit. */
export function expand(cx: Ctx, vals: readonly unknown[], spread: readonly boolean[]): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < vals.length; i++) {
    if (!spread[i]) {
      out.push(vals[i]);
      continue;
    }
    const src = vals[i];
    if (typeof src === 'string') {
      // Spreading a string yields code points; cut a huge string first so the check fires before a huge array.
      const chars = Array.from(src.length > cx.limits.arrayLength * 2 ? src.slice(0, cx.limits.arrayLength * 2 + 2) : src);
      checkArray(cx, out.length + chars.length);
      out.push(...chars);
    } else if (Array.isArray(src)) {
      checkArray(cx, out.length + src.length);
      for (let j = 0; j < src.length; j++) out.push(readOwn(cx, src, j));
    } else {
      runtime(cx.path, `spreading ${describe(src)} (only arrays and strings can be spread here)`);
    }
  }
  return out;
}
