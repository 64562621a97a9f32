/**
 * @module expr/compile
 * `compileExpression`: parse once, resolve every name, check everything that can be checked statically, and
 * build a tree of closures that evaluates the expression per message without looking at the AST again.
 * This file holds the entry point and the simple node kinds; member access and assignment are in
 * `compile-access.ts`, calls and arrows in `compile-call.ts`, literals of arrays, objects and templates in
 * `compile-data.ts`.
 */

import { after, Pending } from './async.js';
import { compileAssign, compileMember, compileUpdate } from './compile-access.js';
import { compileCall } from './compile-call.js';
import { compileArray, compileObject, compileTemplate } from './compile-data.js';
import { createCtx, step, type Run } from './context.js';
import { budget, forbidden, normalize } from './fail.js';
import { node, resolve, type C, type Lex } from './lex.js';
import { lift1, lift2, safe } from './lift.js';
import { MAX_AST_DEPTH, resolveLimits, type ExprLimits } from './limits.js';
import { BINARY_OPS, LOGICAL_OPS, UNARY_OPS } from './operators.js';
import { parseExpression, type Node } from './parse.js';

/** Options of one expression. */
export interface ExprOptions {
  /** YAML path for errors, e.g. `url.chat.kwargs.prepare`. */
  path: string;
  /** Scope names the expression may read, e.g. `['msg', 'handler']` or `['args', 'handler']`. */
  names: readonly string[];
  /** Scope names whose members may be assigned (deeply), e.g. `['msg']` or `['args']`. */
  writable: readonly string[];
  /** Trusted app modules (from `modules:`): name → module namespace. Their functions get real values. */
  modules?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Overrides of `DEFAULT_EXPR_LIMITS`. */
  limits?: Partial<ExprLimits>;
}

/**
 * A compiled expression. Returns the value synchronously unless a module function returned a promise, in
 * which case it returns a Promise of the value. Throws (or rejects with) an MhError.
 */
export type CompiledExpr = (scope: Readonly<Record<string, unknown>>) => unknown | Promise<unknown>;

/**
 * Compiles `source` once. Syntax errors, unknown names, forbidden members and misuse of helpers throw here,
 * with `options.path`, so a bad config fails at load and never on a message.
 */
export function compileExpression(source: string, options: ExprOptions): CompiledExpr {
  const { path } = options;
  const limits = resolveLimits(options.limits, path);
  const lex: Lex = {
    path,
    names: new Set([...options.names, ...options.writable]),
    writable: new Set(options.writable),
    modules: options.modules ?? {},
    params: [],
    inCallback: false,
    depth: { n: 0 },
  };
  const run = compileValue(parseExpression(source, path), lex).run;
  return (scope) => {
    const cx = createCtx(scope, path, limits);
    let result: unknown;
    try {
      result = run(cx);
    } catch (err) {
      throw normalize(err, path);
    }
    if (result instanceof Pending) {
      return result.p.then(undefined, (err: unknown) => {
        throw normalize(err, path);
      });
    }
    return result;
  };
}

/** Compiles a node whose value may be raw from a read-only root (see `C.ro`). */
export function compileNode(n: Node, lex: Lex): C {
  if (++lex.depth.n > MAX_AST_DEPTH) budget(lex.path, `an expression nested more than ${MAX_AST_DEPTH} deep`);
  try {
    return dispatch(n, lex);
  } finally {
    lex.depth.n--;
  }
}

/** Compiles a node whose value will be stored, returned or iterated: read-only values are snapshotted. */
export function compileValue(n: Node, lex: Lex): C {
  return safe(compileNode(n, lex));
}

function dispatch(n: Node, lex: Lex): C {
  switch (n.type) {
    case 'Literal':
      return literal(n, lex);
    case 'Identifier':
      return identifier(n.name as string, lex);
    case 'MemberExpression':
      return compileMember(n, lex, true);
    case 'CallExpression':
      return compileCall(n, lex, true);
    case 'UnaryExpression':
      return unary(n, lex);
    case 'BinaryExpression':
      return binary(n, lex);
    case 'ConditionalExpression':
      return conditional(n, lex);
    case 'AssignmentExpression':
      return compileAssign(n, lex);
    case 'UpdateExpression':
      return compileUpdate(n, lex);
    case 'ArrayExpression':
      return compileArray(n, lex);
    case 'ObjectExpression':
      return compileObject(n, lex);
    case 'TemplateLiteral':
      return compileTemplate(n, lex);
    case 'Compound':
      return statements(n.body as Node[], lex);
    case 'SequenceExpression':
      return statements(n.expressions as Node[], lex);
    case 'ThisExpression':
      return forbidden(lex.path, '"this"');
    case 'TaggedTemplateExpression':
      return forbidden(lex.path, 'tagged templates (tag`…`)');
    case 'ArrowFunctionExpression':
      return forbidden(lex.path, 'an arrow function except as the argument of an array method (map, filter, …)');
    case 'SpreadElement':
      return forbidden(lex.path, 'spread (...) outside an array, an object or an argument list');
    default:
      return forbidden(lex.path, `the syntax "${n.type}"`);
  }
}

/** A literal or constant: no lookups at run time, one step. */
function constant(value: unknown): C {
  return node((cx) => {
    step(cx);
    return value;
  }, false, false);
}

/** A literal. Regex literals reach here only in positions where they would become a value, which is refused. */
function literal(n: Node, lex: Lex): C {
  if (n.value instanceof RegExp) {
    return forbidden(lex.path, `the regular expression ${String(n.raw)} outside a method call (use s.replace(/…/, …) or /…/.test(s))`);
  }
  return constant(n.value);
}

/** A free name: an arrow parameter, a scope root or a constant. Helpers and modules are only valid when called. */
export function identifier(name: string, lex: Lex): C {
  const ref = resolve(name, lex);
  switch (ref.kind) {
    case 'param':
      return node(paramReader(ref.up, ref.index), false, false);
    case 'root':
      return node((cx) => {
        step(cx);
        return Object.hasOwn(cx.scope, name) ? cx.scope[name] : undefined;
      }, !ref.writable, false);
    case 'const':
      return constant(ref.value);
    case 'module':
      return forbidden(lex.path, `the module "${name}" as a value (call its functions: ${name}.fn(…))`);
    case 'helper':
      return forbidden(lex.path, `"${name}" as a value (${ref.fn ? `call it: ${name}(…)` : `use its members: ${name}.…`})`);
  }
}

/** Reads an arrow parameter `up` frames out; the innermost frame is the common case and gets its own closure. */
function paramReader(up: number, index: number): Run {
  if (up === 0) {
    return (cx) => {
      step(cx);
      return cx.frame!.v[index];
    };
  }
  return (cx) => {
    step(cx);
    let f = cx.frame!;
    for (let i = 0; i < up; i++) f = f.up!;
    return f.v[index];
  };
}

/** A unary operator; unknown ones are compile errors. */
function unary(n: Node, lex: Lex): C {
  const op = UNARY_OPS.get(n.operator as string);
  if (op === undefined) return forbidden(lex.path, `the operator "${String(n.operator)}"`);
  const arg = compileNode(n.argument as Node, lex); // operators only inspect: a raw read-only value is fine
  return node(lift1(arg, op), false, arg.async);
}

const EQUALITY: ReadonlySet<string> = new Set(['==', '!=', '===', '!==']);

/** A binary operator; `&&`, `||` and `??` go to `logical` since their right side is conditional. */
function binary(n: Node, lex: Lex): C {
  const operator = n.operator as string;
  if (LOGICAL_OPS.has(operator)) return logical(operator, n, lex);
  const op = BINARY_OPS.get(operator);
  if (op === undefined) return forbidden(lex.path, `the operator "${operator}"`);
  // Equality compares objects by identity: both sides must then be the same copy of a read-only value, so they
  // are snapshotted (a no-op for primitives). Other operators convert to primitives and may read raw values.
  // Against a literal (`x == null`, `x === 'a'`) an object is never equal, copy or not: no copy needed.
  const literal = (n.left as Node).type === 'Literal' || (n.right as Node).type === 'Literal';
  const compile = EQUALITY.has(operator) && !literal ? compileValue : compileNode;
  const left = compile(n.left as Node, lex);
  const right = compile(n.right as Node, lex);
  return node(lift2(left, right, op), false, left.async || right.async);
}

/** `&&`, `||`, `??`: the right side runs only when needed. `&&` returns its left side only when it is falsy. */
function logical(operator: string, n: Node, lex: Lex): C {
  const left = operator === '&&' ? compileNode(n.left as Node, lex) : compileValue(n.left as Node, lex);
  const right = compileValue(n.right as Node, lex);
  const rr = right.run;
  const pick =
    operator === '&&'
      ? (cx: Parameters<Run>[0], a: unknown) => (a ? rr(cx) : a)
      : operator === '||'
        ? (cx: Parameters<Run>[0], a: unknown) => (a ? a : rr(cx))
        : (cx: Parameters<Run>[0], a: unknown) => a ?? rr(cx);
  return node(lift1(left, pick), false, left.async || right.async);
}

/** `test ? a : b`: only the chosen branch runs. */
function conditional(n: Node, lex: Lex): C {
  const test = compileNode(n.test as Node, lex); // only its truthiness is used: no copy needed
  const yes = compileValue(n.consequent as Node, lex);
  const no = compileValue(n.alternate as Node, lex);
  const [ry, rn] = [yes.run, no.run];
  return node(lift1(test, (cx, t) => (t ? ry(cx) : rn(cx))), false, test.async || yes.async || no.async);
}

/** `a; b; c` and `(a, b, c)`: each statement in order (awaited if it went asynchronous); the value of the last. */
function statements(list: readonly Node[], lex: Lex): C {
  if (list.length === 0) return constant(undefined);
  const cs = list.map((s, i) => (i === list.length - 1 ? compileValue(s, lex) : compileNode(s, lex)));
  const runs = cs.map((c) => c.run);
  const last = runs.length - 1;
  if (!cs.some((c) => c.async)) {
    return node((cx) => {
      step(cx);
      for (let i = 0; i < last; i++) runs[i]!(cx);
      return runs[last]!(cx);
    }, false, false);
  }
  const from = (cx: Parameters<Run>[0], i: number): unknown => {
    for (; i < last; i++) {
      const v = runs[i]!(cx);
      if (v instanceof Pending) {
        const next = i + 1;
        return after(v, () => from(cx, next));
      }
    }
    return runs[last]!(cx);
  };
  return node((cx) => {
    step(cx);
    return from(cx, 0);
  }, false, true);
}
