/**
 * @module types
 * Shared vocabulary of msghub: methods, rows, columns, users, disposables.
 */

export type Method = 'POST' | 'PUT' | 'DELETE';
export const METHODS: readonly Method[] = ['POST', 'PUT', 'DELETE'];

/** A stored row or a message: JSON-compatible values keyed by column or message key. */
export type Row = Record<string, unknown>;

/**
 * Query-string style arguments: every value is a list of strings (Gramex `handler.args`). Always a
 * null-prototype map (`emptyArgs()`): its keys are the client's, and `?valueOf=1` or `?__proto__=1` must name an
 * argument, not a member of Object.prototype.
 */
export type Args = Record<string, string[]>;

/** A new, empty, null-prototype Args. */
export function emptyArgs(): Args {
  return Object.create(null) as Args;
}

/**
 * How a column's values compare and validate. Derived from the declared SQL type:
 * INT/INTEGER/BIGINT/SMALLINT → integer; REAL/FLOAT/DOUBLE/NUMERIC/DECIMAL → real; BOOL/BOOLEAN → boolean;
 * everything else (TEXT, VARCHAR(n), DATE, TIMESTAMP, JSON, …) → text. Dates are stored as ISO text so they
 * compare as strings in every database and in JavaScript alike.
 */
export type ColumnKind = 'text' | 'integer' | 'real' | 'boolean';

export interface ColumnDef {
  name: string;
  /** SQL type as written in the config, upper-cased (e.g. `TEXT`, `VARCHAR(10)`, `INTEGER`). */
  type: string;
  kind: ColumnKind;
  nullable: boolean;
  default?: string | number | boolean | null;
  primaryKey: boolean;
  autoincrement: boolean;
}

/** The authenticated user, as the host app or the auth layer describes it. */
export interface User {
  id: string;
  [key: string]: unknown;
}

export interface Disposable {
  dispose(): Promise<void>;
}
