/**
 * @module expr/associativity
 * jsep 1.6 builds the wrong tree when two different right-associative operators meet: in its binary-operator
 * loop the reduce test for a right-associative pair is inverted, so `x => msg.n += 1` parses as
 * `(x => msg.n) += 1` and `msg.x = 2 ** 3` as `(msg.x = 2) ** 3`. The affected operators are `=>` (0.1), the
 * assignments (0.9) and `**` (11). This pass rotates each mis-reduced node back into place. Parenthesised
 * nodes are left alone: `(a = b) ** c` is what the author wrote.
 */

import type { Node } from './parse.js';

/**
 * Marks a node written in parentheses, for `repairAssociativity` (jsep's AST does not record them). A registry
 * symbol on the node, not module state: jsep and its hooks are process-wide, while this module may be loaded
 * more than once (test runners do), and the hook registered first must serve every copy.
 */
export const PARENTHESIZED: unique symbol = Symbol.for('msghub.expr.parenthesized') as never;

/** jsep's assignment operators (from @jsep-plugin/assignment). */
const ASSIGNMENT_OPS: ReadonlySet<string> = new Set(['=', '*=', '**=', '/=', '%=', '+=', '-=', '<<=', '>>=', '>>>=', '&=', '^=', '|=', '||=', '&&=', '??=']);

/** Precedence of a right-associative node, or undefined for any other node. */
function rightPrecedence(n: Node): number | undefined {
  if (n.type === 'ArrowFunctionExpression') return 0.1;
  if (n.type === 'AssignmentExpression') return 0.9;
  if (n.type === 'BinaryExpression' && n.operator === '**') return 11;
  return undefined;
}

/** The operand a right-associative node takes on its right. */
function rightSlot(n: Node): 'body' | 'right' {
  return n.type === 'ArrowFunctionExpression' ? 'body' : 'right';
}

/** Repairs the whole tree, children first. Returns the (possibly new) root. */
export function repairAssociativity(n: Node): Node {
  for (const [key, value] of Object.entries(n)) {
    if (Array.isArray(value)) {
      value.forEach((v: unknown, i) => {
        if (isNode(v)) value[i] = repairAssociativity(v);
      });
    } else if (isNode(value)) {
      (n as Record<string, unknown>)[key] = repairAssociativity(value);
    }
  }
  // The assignment plugin stops converting at the first binary node that is not an assignment, so in a
  // mis-reduced tree like `(msg.x = 2) ** 3` the inner `=` is still a BinaryExpression.
  if (n.type === 'BinaryExpression' && ASSIGNMENT_OPS.has(n.operator as string)) n.type = 'AssignmentExpression';
  return rotate(n);
}

/**
 * `(L op1 a) op2 b` with op1 binding looser than op2, both right-associative and L not parenthesised, was
 * meant as `L op1 (a op2 b)`: rotate, then repair the new inner node the same way.
 */
function rotate(n: Node): Node {
  const p = rightPrecedence(n);
  if (p === undefined || n.type === 'ArrowFunctionExpression') return n;
  const left = n.left as Node;
  const lp = rightPrecedence(left);
  if (lp === undefined || lp >= p || (left as unknown as Record<symbol, unknown>)[PARENTHESIZED]) return n;
  const slot = rightSlot(left);
  n.left = left[slot] as Node;
  left[slot] = rotate(n);
  return left;
}

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string';
}
