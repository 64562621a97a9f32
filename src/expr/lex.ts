/**
 * @module expr/lex
 * What the compiler knows while it walks the tree: the names in scope (arrow parameters, scope roots, modules,
 * helpers) and, for every compiled node, whether its value may come raw from a read-only root and whether it
 * may go asynchronous. Names resolve here, once, at compile time; an unknown name is an error at load.
 */

import { forbidden } from './fail.js';
import { HELPER_CONSTANTS, HELPER_FUNCTIONS, HELPER_NAMESPACES, type Helper, type Namespace } from './helpers.js';
import type { Run } from './context.js';

/** A compiled node. */
export interface C {
  readonly run: Run;
  /**
   * The value may be an object read from a read-only root (or a module) that has not been copied yet. Such a
   * value may be inspected, but before it is stored, returned or iterated it goes through `snapshot`.
   */
  readonly ro: boolean;
  /** The value may be a `Pending` (a module call below went asynchronous). */
  readonly async: boolean;
  /** The value may be the optional-chaining short-circuit marker (only inside a member/call chain). */
  readonly short: boolean;
}

/** Compile-time environment. */
export interface Lex {
  readonly path: string;
  readonly names: ReadonlySet<string>;
  readonly writable: ReadonlySet<string>;
  readonly modules: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Parameter names of the enclosing arrows, innermost last. */
  readonly params: readonly (readonly string[])[];
  /** Inside an arrow body: module functions must answer synchronously there. */
  readonly inCallback: boolean;
  /** Current AST depth, shared by the whole compilation. */
  readonly depth: { n: number };
}

/** What a name refers to. */
export type Ref =
  | { readonly kind: 'param'; readonly up: number; readonly index: number }
  | { readonly kind: 'root'; readonly name: string; readonly writable: boolean }
  | { readonly kind: 'module'; readonly name: string; readonly ns: Readonly<Record<string, unknown>> }
  | { readonly kind: 'helper'; readonly name: string; readonly fn?: Helper; readonly ns?: Namespace }
  | { readonly kind: 'const'; readonly value: unknown };

/**
 * Resolves a free name: arrow parameters (innermost first), then scope names, then modules, then helpers.
 * Anything else (`process`, `require`, `globalThis`, `eval`, `Function`, `import`, `new`, …) is refused here.
 */
export function resolve(name: string, lex: Lex): Ref {
  for (let up = 0; up < lex.params.length; up++) {
    const index = lex.params[lex.params.length - 1 - up]!.indexOf(name);
    if (index >= 0) return { kind: 'param', up, index };
  }
  if (lex.names.has(name)) return { kind: 'root', name, writable: lex.writable.has(name) };
  if (Object.hasOwn(lex.modules, name)) return { kind: 'module', name, ns: lex.modules[name]! };
  const fn = HELPER_FUNCTIONS.get(name);
  const ns = HELPER_NAMESPACES.get(name);
  if (fn || ns) return { kind: 'helper', name, fn, ns };
  if (HELPER_CONSTANTS.has(name)) return { kind: 'const', value: HELPER_CONSTANTS.get(name) };
  const known = [...lex.names, ...Object.keys(lex.modules)].join(', ');
  return forbidden(lex.path, `the name "${name}" (known names: ${known || 'none'}, and the helpers)`);
}

/** A compiled node from its parts; `short` defaults to false. */
export function node(run: Run, ro: boolean, async: boolean, short = false): C {
  return { run, ro, async, short };
}

/** The value of an optional chain that short-circuited (`a?.b` with `a` nullish); never escapes the chain. */
export const SHORT: unique symbol = Symbol('msghub.expr.short');
