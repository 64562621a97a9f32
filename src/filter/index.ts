/**
 * @module filter
 * One filter language (FormHandler query arguments, and any-of groups of them built in code: groups.ts), two
 * back ends that agree on every row: SQL for history and a JavaScript predicate for live events. See
 * docs/filters.md.
 */

export type { Condition, Filter, Op, ParseOptions, Predicate, Scalar } from './types.js';
export { parseFilter, parseFilterGroups, DEFAULT_MAX_CONDITIONS, DEFAULT_MAX_NEEDLE } from './parse.js';
export { anyOf, filterGroups } from './groups.js';
export type { FilterShape } from './groups.js';
export { FilterBudget, filterComparisons, filterScans, DEFAULT_MAX_FILTER_SCANS } from './budget.js';
export type { Release } from './budget.js';
export { applyWhere, applyOrder } from './sql.js';
export type { SqlClient } from './sql.js';
export { compilePredicate } from './predicate.js';
export { filterKey } from './key.js';
export { projectRow } from './project.js';
