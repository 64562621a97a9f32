/**
 * @module expr/parse
 * jsep, configured once for msghub's expression grammar, and the one function that parses. The plugins are
 * registered when this module loads (jsep keeps them globally and ignores a second registration by name).
 * Parsing happens only at compile time; `parseCount()` lets tests prove that evaluations never parse again.
 */

import jsep from 'jsep';
import arrow from '@jsep-plugin/arrow';
import assignment from '@jsep-plugin/assignment';
import object from '@jsep-plugin/object';
import regex from '@jsep-plugin/regex';
import spread from '@jsep-plugin/spread';
import template from '@jsep-plugin/template';
import ternary from '@jsep-plugin/ternary';
import { PARENTHESIZED, repairAssociativity } from './associativity.js';
import { budget, syntax } from './fail.js';
import { MAX_NESTING, MAX_SOURCE_LENGTH } from './limits.js';

/**
 * A jsep AST node. jsep types its nodes loosely; the compiler narrows them by `type`. Spelled out here (it is
 * jsep's `Expression`) rather than imported, so the shipped .d.ts never import jsep's typings, which do not
 * compile in a consumer's ESM project with `skipLibCheck: false`.
 */
export interface Node {
  type: string;
  [key: string]: NodeValue | Node | (NodeValue | Node)[];
}
type NodeValue = string | number | boolean | RegExp | null | undefined | object;

/** JavaScript keywords that jsep would read as plain names followed by another expression. */
const KEYWORDS: ReadonlySet<string> = new Set([
  'new', 'delete', 'void', 'in', 'instanceof', 'function', 'class', 'await', 'async', 'yield', 'return', 'var', 'let',
  'const', 'import', 'export', 'throw', 'try', 'if', 'for', 'while', 'do', 'with', 'debugger', 'of',
]);

/**
 * jsep accepts expressions written side by side (`a b` is a compound of two), which would make a missing `;`
 * silently change meaning. This plugin refuses an expression that starts right after the end of another one.
 */
const separators = {
  name: 'msghub-separators',
  // jsep calls init(jsep) with jsep as the argument; its typings say `this`, hence the cast below.
  init(j: typeof jsep): void {
    j.hooks.add('gobble-expression', function requireSeparator(this: jsep.HookScope) {
      let i = this.index - 1;
      while (i >= 0 && /\s/.test(this.expr[i]!)) i--;
      if (i >= 0 && /[\w$)\]}'"`]/.test(this.expr[i]!)) {
        const at = this.index;
        this.gobbleSpaces();
        if (this.index < this.expr.length && this.code !== 59 && this.code !== 44 && this.code !== 41 && this.code !== 125 && this.code !== 93) {
          const before = /[\w$]+$/.exec(this.expr.slice(0, i + 1))?.[0] ?? '';
          const next = /^[\w$]+/.exec(this.expr.slice(this.index))?.[0] ?? '';
          const word = KEYWORDS.has(before) ? before : KEYWORDS.has(next) ? next : '';
          this.throwError(word ? `"${word}" is not supported` : 'Expected ";" between expressions');
        }
        this.index = at;
      }
    });
  },
} as unknown as jsep.IPlugin;


/** Parses `( … )` exactly as jsep does, remembering the node the parentheses enclose. */
const groups = {
  name: 'msghub-groups',
  init(j: typeof jsep): void {
    j.hooks.add('gobble-token', function markGroup(this: jsep.HookScope, env: { node?: jsep.Expression }) {
      if (this.code !== 40) return; // (
      const inner = this.gobbleGroup() as jsep.Expression | false;
      if (!inner) this.throwError('Unexpected ")"');
      (inner as unknown as Record<symbol, boolean>)[PARENTHESIZED] = true;
      env.node = this.gobbleTokenProperty(inner);
    });
  },
} as unknown as jsep.IPlugin;

jsep.plugins.register(ternary, arrow, assignment, object, regex, spread, template, separators, groups);
if (!('typeof' in jsep.unary_ops)) jsep.addUnaryOp('typeof');

let parses = 0;

/** How many times `parseExpression` ran in this process (for tests that prove compile-once). */
export function parseCount(): number {
  return parses;
}

/**
 * Parses one expression. Errors carry the 1-based column jsep stopped at. Oversized or over-nested sources are
 * refused before jsep sees them: its plugins walk the tree recursively, so depth would cost time and stack.
 */
export function parseExpression(source: string, path: string): Node {
  parses++;
  if (typeof source !== 'string') return syntax(path, 1, `expected an expression string, got ${typeof source}`);
  if (source.length > MAX_SOURCE_LENGTH) budget(path, `an expression of ${source.length} characters (the limit is ${MAX_SOURCE_LENGTH})`);
  const depth = nesting(source);
  if (depth > MAX_NESTING) budget(path, `brackets nested ${depth} deep (the limit is ${MAX_NESTING})`);
  if (source.trim() === '') return syntax(path, 1, 'empty expression');
  try {
    return repairAssociativity(jsep(source));
  } catch (err) {
    if (err instanceof RangeError) return budget(path, 'expression nested too deeply');
    const e = err as { index?: unknown; description?: unknown; message?: unknown };
    const column = typeof e.index === 'number' ? e.index + 1 : 1;
    return syntax(path, column, String(e.description ?? e.message));
  }
}

/**
 * Deepest (, [, { or ${ nesting outside string literals: an upper bound of the parser's recursion. Template
 * literals switch between text (where only `${` counts) and code (inside `${ … }`), so the scanner keeps a stack.
 */
function nesting(source: string): number {
  const stack: string[] = []; // '(', '[', '{', '${' (code frames) and '`' (template text)
  let depth = 0;
  let max = 0;
  let quote = '';
  const open = (frame: string): void => {
    stack.push(frame);
    max = Math.max(max, ++depth);
  };
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
    } else if (stack[stack.length - 1] === '`') {
      if (c === '\\') i++;
      else if (c === '`') stack.pop();
      else if (c === '$' && source[i + 1] === '{') {
        open('${');
        i++;
      }
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === '`') {
      stack.push('`');
    } else if (c === '(' || c === '[' || c === '{') {
      open(c);
    } else if ((c === ')' || c === ']' || c === '}') && stack.length > 0) {
      stack.pop();
      depth--;
    }
  }
  return max;
}
