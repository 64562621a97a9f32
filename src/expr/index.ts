/**
 * @module expr
 * The sandboxed expression language of gramex.yaml hooks (`open`, `message_default`, `prepare`, `modify`).
 * See docs/expressions.md for the grammar, scopes, helpers, limits and errors.
 */

export { compileExpression, type CompiledExpr, type ExprOptions } from './compile.js';
export { DEFAULT_EXPR_LIMITS, type ExprLimits } from './limits.js';
