/**
 * Column maps shared by the filter tests.
 */

import type { Args, ColumnDef, ColumnKind } from '../../src/types.js';

/** Builds a ColumnDef map from `name → kind` (declared types follow the kind). */
export function columnMap(kinds: Record<string, ColumnKind>): Map<string, ColumnDef> {
  const types: Record<ColumnKind, string> = { text: 'TEXT', integer: 'INTEGER', real: 'REAL', boolean: 'BOOLEAN' };
  return new Map(
    Object.entries(kinds).map(([name, kind]) => [
      name,
      { name, type: types[kind], kind, nullable: name !== 'id', primaryKey: name === 'id', autoincrement: false },
    ]),
  );
}

/** The messages table of the guide, plus a real and a boolean column. */
export const MESSAGES = columnMap({
  id: 'text',
  body: 'text',
  topic: 'text',
  user: 'text',
  timestamp: 'text',
  length: 'integer',
  score: 'real',
  read: 'boolean',
});

/** Query string → Args, the way the transports build them (URLSearchParams keeps repeated keys). */
export function argsOf(query: string): Args {
  const args: Args = {};
  for (const [key, value] of new URLSearchParams(query)) (args[key] ??= []).push(value);
  return args;
}
