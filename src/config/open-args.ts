/**
 * @module config/open-args
 * What `msghub check` can know about an `open` expression before anyone connects: the filter args it sets.
 * `open: args.recipient = [...]` on a table without a `recipient` column compiles, and then refuses every
 * subscriber with `Unknown filter column "recipient"`; here it is a config problem with its YAML path instead.
 *
 * Only literal keys are seen (`args.x = …`, `args['x>'] = …`); a computed key is left to run time.
 */
import { resolveKey } from '../filter/operators.js';
import { parseExpression, type Node } from '../expr/parse.js';
import type { ColumnDef } from '../types.js';

/** The arg keys `source` assigns to literally (`args.k = …`, `args['k'] = …`, `args.k ??= …`), in source order. */
export function assignedArgKeys(source: string, path: string): string[] {
  const keys: string[] = [];
  const walk = (node: unknown, depth: number): void => {
    if (!node || typeof node !== 'object' || depth > 200) return;
    if (Array.isArray(node)) {
      for (const n of node) walk(n, depth + 1);
      return;
    }
    const n = node as Node;
    if (n.type === 'AssignmentExpression') {
      const left = n.left as Node | undefined;
      if (left?.type === 'MemberExpression' && (left.object as Node | undefined)?.type === 'Identifier' && (left.object as Node).name === 'args') {
        const prop = left.property as Node;
        if (!left.computed && prop.type === 'Identifier') keys.push(prop.name as string);
        else if (left.computed && prop.type === 'Literal' && typeof prop.value === 'string') keys.push(prop.value);
      }
    }
    for (const value of Object.values(n)) if (value && typeof value === 'object') walk(value, depth + 1);
  };
  walk(parseExpression(source, path), 0);
  return keys;
}

/**
 * Problems with the filter args an `open` expression sets: each key that names no column (with or without an
 * operator suffix). Keys starting with `_` are control args (`_c`, `_sort`, …), checked by the filter parser.
 */
export function openArgProblems(source: string, path: string, columns: ReadonlyMap<string, ColumnDef>): string[] {
  const problems: string[] = [];
  for (const key of new Set(assignedArgKeys(source, path))) {
    if (key.startsWith('_') || resolveKey(key, (c) => columns.has(c))) continue;
    problems.push(
      `sets args.${key}, but "${key}" names no column (columns: ${[...columns.keys()].join(', ')}): every subscriber would be ` +
        `refused with MH_ERR_FILTER_COLUMN. Declare it under columns:, or filter on an existing column`,
    );
  }
  return problems;
}
