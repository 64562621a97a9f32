/**
 * @module store/columns
 * The FormHandler `columns:` syntax → ColumnDef, and the conversion of message values to a column's kind.
 *
 *   columns:
 *     body: TEXT                       # a type string
 *     length: {type: INTEGER, nullable: false, default: 0}
 *
 * Every table also gets `id` (TEXT primary key), `user` and `timestamp` (TEXT) unless declared, and the
 * bookkeeping column `_seq` (the commit sequence number of the row's POST) which orders history.
 */
import type { ColumnDef, ColumnKind } from '../types.js';

/** Type names we accept, with their kind. Parameters like VARCHAR(10) or DECIMAL(10,2) are allowed where shown. */
const TYPE_RE =
  /^(TEXT|STRING|VARCHAR|CHAR|NVARCHAR|CLOB|UUID|JSON|DATE|TIME|DATETIME|TIMESTAMP|INT|INTEGER|BIGINT|SMALLINT|TINYINT|REAL|FLOAT|DOUBLE|DOUBLE PRECISION|NUMERIC|DECIMAL|BOOLEAN)(\(\s*\d+\s*(,\s*\d+\s*)?\))?$/;

const KIND_OF: Record<string, ColumnKind> = {
  INT: 'integer',
  INTEGER: 'integer',
  BIGINT: 'integer',
  SMALLINT: 'integer',
  TINYINT: 'integer',
  REAL: 'real',
  FLOAT: 'real',
  DOUBLE: 'real',
  'DOUBLE PRECISION': 'real',
  NUMERIC: 'real',
  DECIMAL: 'real',
  BOOLEAN: 'boolean',
};

/** Columns every MessageHandler table has. Declaring one of them replaces the default definition. */
export const BUILTIN_COLUMNS = ['id', 'user', 'timestamp'] as const;
/** The sequence column; reserved: it cannot be declared. */
export const SEQ_COLUMN = '_seq';

const COLUMN_NAME_RE = /^[A-Za-z][A-Za-z0-9_]{0,62}$/;
const COLUMN_KEYS = new Set(['type', 'nullable', 'default', 'primary_key', 'autoincrement']);

/** Parses one column spec. Returns the definition or a list of problems (relative sub-paths + messages). */
export function parseColumn(name: string, spec: unknown): { def?: ColumnDef; problems: { sub: string; message: string }[] } {
  const problems: { sub: string; message: string }[] = [];
  if (!COLUMN_NAME_RE.test(name)) {
    problems.push({ sub: '', message: 'column names are letters, digits and _ (starting with a letter), at most 63 characters' });
  }
  let type = 'TEXT';
  let nullable = true;
  let dflt: ColumnDef['default'];
  let primaryKey = false;
  let autoincrement = false;
  if (typeof spec === 'string') {
    type = spec;
  } else if (spec && typeof spec === 'object' && !Array.isArray(spec)) {
    const o = spec as Record<string, unknown>;
    for (const key of Object.keys(o)) {
      if (!COLUMN_KEYS.has(key)) problems.push({ sub: `.${key}`, message: `unknown column key (use ${[...COLUMN_KEYS].join(', ')})` });
    }
    if (o.type !== undefined) {
      if (typeof o.type === 'string') type = o.type;
      else problems.push({ sub: '.type', message: 'must be a string such as TEXT or INTEGER' });
    }
    for (const key of ['nullable', 'primary_key', 'autoincrement'] as const) {
      if (o[key] !== undefined && typeof o[key] !== 'boolean') problems.push({ sub: `.${key}`, message: 'must be true or false' });
    }
    if (typeof o.nullable === 'boolean') nullable = o.nullable;
    if (o.primary_key === true) primaryKey = true;
    if (o.autoincrement === true) autoincrement = true;
    if (o.default !== undefined) {
      if (o.default === null || ['string', 'number', 'boolean'].includes(typeof o.default)) dflt = o.default as ColumnDef['default'];
      else problems.push({ sub: '.default', message: 'must be a string, number, boolean or null' });
    }
  } else {
    problems.push({ sub: '', message: 'must be a type string (e.g. TEXT) or a mapping {type, nullable, default, primary_key, autoincrement}' });
  }
  const upper = type.trim().toUpperCase().replace(/\s+/g, ' ');
  const m = TYPE_RE.exec(upper);
  if (!m) {
    problems.push({ sub: typeof spec === 'string' ? '' : '.type', message: `unknown column type ${JSON.stringify(type)} (use TEXT, VARCHAR(n), INTEGER, REAL, NUMERIC, BOOLEAN, DATE, TIMESTAMP, …)` });
  }
  if (problems.length) return { problems };
  const kind: ColumnKind = KIND_OF[m![1]!] ?? 'text';
  if (autoincrement && kind !== 'integer') problems.push({ sub: '.autoincrement', message: 'only INTEGER columns can autoincrement' });
  if (dflt !== undefined && dflt !== null && !valueFits(kind, dflt)) problems.push({ sub: '.default', message: `does not fit a ${kind} column` });
  if (problems.length) return { problems };
  return { def: { name, type: upper, kind, nullable: primaryKey ? false : nullable, default: dflt, primaryKey, autoincrement }, problems };
}

function valueFits(kind: ColumnKind, v: string | number | boolean): boolean {
  return coerce(kind, v) !== INVALID;
}

/** Adds the built-in columns (`id` TEXT primary key, `user`, `timestamp`) after the declared ones, as Gramex does. */
export function withBuiltins(declared: ColumnDef[]): Map<string, ColumnDef> {
  const columns = new Map(declared.map((c) => [c.name, c] as const));
  const text = (name: string, primaryKey = false): ColumnDef => ({
    name,
    type: 'TEXT',
    kind: 'text',
    nullable: !primaryKey,
    primaryKey,
    autoincrement: false,
  });
  if (!columns.has('id')) columns.set('id', text('id', true));
  if (!columns.has('user')) columns.set('user', text('user'));
  if (!columns.has('timestamp')) columns.set('timestamp', text('timestamp'));
  return columns;
}

/** Marker for a value that cannot be stored in a column. */
export const INVALID: unique symbol = Symbol('invalid');

/**
 * Converts a message value to the column's canonical JS type: text → string, integer/real → number,
 * boolean → boolean, missing/empty → null. Returns INVALID for values that do not fit (objects in a text
 * column, 'abc' in an INTEGER column, …) so the pipeline can tell the sender which column refused what.
 */
export function coerce(kind: ColumnKind, v: unknown): string | number | boolean | null | typeof INVALID {
  if (v === null || v === undefined) return null;
  switch (kind) {
    case 'text':
      if (typeof v === 'string') return v;
      if (typeof v === 'number') return Number.isFinite(v) ? String(v) : INVALID;
      if (typeof v === 'boolean') return String(v);
      return INVALID;
    case 'integer': {
      if (v === '') return null;
      const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : typeof v === 'boolean' ? Number(v) : NaN;
      return Number.isSafeInteger(n) ? n : INVALID;
    }
    case 'real': {
      if (v === '') return null;
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
      return Number.isFinite(n) ? n : INVALID;
    }
    case 'boolean':
      if (typeof v === 'boolean') return v;
      if (v === 1 || v === '1' || v === 'true') return true;
      if (v === 0 || v === '0' || v === 'false') return false;
      if (v === '') return null;
      return INVALID;
  }
}

/** Converts a value read from the database back to the canonical JS type of its column. */
export function fromDb(kind: ColumnKind, v: unknown): string | number | boolean | null {
  if (v === null || v === undefined) return null;
  if (kind === 'boolean') return v === true || v === 1 || v === '1' || v === 't' || v === 'true';
  if (kind === 'integer' || kind === 'real') return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : Number(v);
  if (v instanceof Date) return v.toISOString();
  return String(v);
}
