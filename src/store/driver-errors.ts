/**
 * @module store/driver-errors
 * Database driver errors → catalogued client errors that name the column and nothing else.
 *
 * A driver's message is not fit for a client: knex prefixes it with the statement (on MySQL with every value
 * inlined, other columns' included), PostgreSQL's `detail` quotes the clashing value, MySQL's duplicate-key
 * message quotes it too. So a client gets a code and a message built here from the column *names* of the
 * handler's own columns, and the driver's text goes to the server log (throttled: see store/fault-log).
 *
 * What the client caused (a value too long, out of range, in an encoding the column cannot hold, a missing
 * NOT NULL value, a unique clash) is a 4xx; anything else stays `MH_ERR_STORE_FAILED`, with a generic message.
 * Drivers that do not name the column (PostgreSQL for 22001, 22003, 22021) get it from the request: the one
 * column whose value can have caused the error, or none when that is ambiguous.
 */
import { MhError } from '../errors.js';
import type { ColumnDef, Row } from '../types.js';
import type { DbClient } from './db-url.js';
import type { WriteRequest } from './store.js';

/**
 * What kind of refusal a driver error is. `unavailable`: the database could not be reached or the connection
 * broke (a retry later may succeed); `other` is any other failure of the database, not of the request.
 */
export type FaultKind = 'too_long' | 'out_of_range' | 'bad_encoding' | 'not_null' | 'unique' | 'bad_value' | 'constraint' | 'unavailable' | 'other';

export interface DriverFault {
  kind: FaultKind;
  /** The driver's code (SQLSTATE, `ER_…`, `SQLITE_…`, or the error's name): the log's key for this kind. */
  code: string;
  /** Columns the driver named, unverified (only those of the handler's own columns are ever shown). */
  columns: string[];
  /** The unique index or constraint the driver named, when it did not name columns. */
  index?: string;
  /** A clash on the primary key, as the driver tells it. */
  primary?: boolean;
}

interface DriverError {
  code?: unknown;
  errno?: unknown;
  message?: unknown;
  sqlMessage?: unknown;
  column?: unknown;
  constraint?: unknown;
  detail?: unknown;
  name?: unknown;
}

// PostgreSQL SQLSTATEs (appendix A of its manual).
const PG_KINDS: Readonly<Record<string, FaultKind>> = {
  '22001': 'too_long',
  '22003': 'out_of_range',
  '22021': 'bad_encoding',
  '22P05': 'bad_encoding',
  '23502': 'not_null',
  '23505': 'unique',
  '22P02': 'bad_value',
  '22007': 'bad_value',
  '22008': 'bad_value',
  '23514': 'constraint',
  '23503': 'constraint',
};

// MySQL / MariaDB error names (as mysql2 reports them in `code`).
const MYSQL_KINDS: Readonly<Record<string, FaultKind>> = {
  ER_DATA_TOO_LONG: 'too_long',
  ER_WARN_DATA_OUT_OF_RANGE: 'out_of_range',
  ER_DATA_OUT_OF_RANGE: 'out_of_range',
  ER_TRUNCATED_WRONG_VALUE_FOR_FIELD: 'bad_value', // "Incorrect string value" is an encoding: see below
  ER_INVALID_CHARACTER_STRING: 'bad_encoding',
  ER_CANNOT_CONVERT_STRING: 'bad_encoding',
  ER_TRUNCATED_WRONG_VALUE: 'bad_value',
  ER_WARN_DATA_TRUNCATED: 'bad_value',
  ER_BAD_NULL_ERROR: 'not_null',
  ER_NO_DEFAULT_FOR_FIELD: 'not_null',
  ER_DUP_ENTRY: 'unique',
  ER_DUP_ENTRY_WITH_KEY_NAME: 'unique',
  ER_CHECK_CONSTRAINT_VIOLATED: 'constraint',
  ER_CONSTRAINT_FAILED: 'constraint',
  ER_NO_REFERENCED_ROW: 'constraint',
  ER_NO_REFERENCED_ROW_2: 'constraint',
};

// better-sqlite3's extended result codes.
const SQLITE_KINDS: Readonly<Record<string, FaultKind>> = {
  SQLITE_CONSTRAINT_NOTNULL: 'not_null',
  SQLITE_CONSTRAINT_UNIQUE: 'unique',
  SQLITE_CONSTRAINT_PRIMARYKEY: 'unique',
  SQLITE_CONSTRAINT_CHECK: 'constraint',
  SQLITE_CONSTRAINT_FOREIGNKEY: 'constraint',
  SQLITE_CONSTRAINT_TRIGGER: 'constraint',
  SQLITE_TOOBIG: 'too_long',
  SQLITE_MISMATCH: 'bad_value',
};

/**
 * Connection-level failures: the server is down, restarting or unreachable, or the connection broke. Node's
 * socket errors, PostgreSQL's SQLSTATEs for a server shutting down (57P01–57P03), class 08 (connection
 * exception) and 53300 (too many connections), MySQL's lost connection and shutdown codes, the pool's acquire
 * timeouts (knex, tarn), and SQLite's busy past `busy_timeout`.
 */
const UNAVAILABLE_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN',
  '57P01', '57P02', '57P03', '53300',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR', 'PROTOCOL_ENQUEUE_AFTER_QUIT', 'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_SERVER_SHUTDOWN', 'ER_CON_COUNT_ERROR', 'ER_CONNECTION_KILLED', 'ER_QUERY_INTERRUPTED',
  'KnexTimeoutError', 'TimeoutError',
  'SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_RECOVERY', 'SQLITE_BUSY_TIMEOUT',
]);
/**
 * Driver messages of a broken connection that carry no code (node-postgres, mysql2), at the start or after the
 * statement knex puts in front (`COMMIT; - Connection terminated unexpectedly`).
 */
const UNAVAILABLE_TEXT =
  /(?:^|\s-\s)(?:Connection terminated|Client has encountered a connection error and is not queryable|Client was closed and is not queryable|timeout exceeded when trying to connect|Can't add new command when connection is in closed state|Connection lost)/;

/**
 * The code of the connection-level failure `err` is (or wraps: knex and Node nest them in `cause` and
 * AggregateError's `errors`), or undefined when it is not one. Never throws.
 */
export function unavailableCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 4; depth++) {
    const d = e as DriverError & { cause?: unknown; errors?: unknown };
    for (const c of [d.code, d.name]) if (typeof c === 'string' && (UNAVAILABLE_CODES.has(c) || /^08[0-9A-Z]{3}$/.test(c))) return c;
    // Only an error without a driver code is read by its text: knex puts the statement in front of the message,
    // with MySQL's values inlined, so a client's value must not pass for a lost connection.
    if (typeof d.code !== 'string' && typeof d.message === 'string' && UNAVAILABLE_TEXT.test(d.message)) return 'connection';
    e = Array.isArray(d.errors) && d.errors.length > 0 ? d.errors[0] : d.cause;
  }
  return undefined;
}

/** Reads what kind of fault a driver error is, and which columns or index it names. Never throws. */
export function classifyDriverError(err: unknown, client: DbClient): DriverFault {
  const e = (err !== null && typeof err === 'object' ? err : {}) as DriverError;
  const lost = unavailableCode(err);
  if (lost !== undefined) return { kind: 'unavailable', code: lost, columns: [] };
  const code = typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'unknown';
  if (client === 'pg') return pgFault(e, code);
  if (client === 'mysql') return mysqlFault(e, code);
  return sqliteFault(e, code);
}

function pgFault(e: DriverError, code: string): DriverFault {
  const kind = PG_KINDS[code] ?? 'other';
  const fault: DriverFault = { kind, code, columns: typeof e.column === 'string' ? [e.column] : [] };
  if (kind === 'unique') {
    // detail: `Key (a, b)=(…) already exists.` The names come before `)=`; the values after are never read.
    const names = typeof e.detail === 'string' ? /^Key \((.*?)\)=/.exec(e.detail)?.[1] : undefined;
    if (names) fault.columns = names.split(', ').map((n) => n.replace(/^"(.*)"$/, '$1'));
    if (typeof e.constraint === 'string') {
      fault.index = e.constraint;
      fault.primary = e.constraint.endsWith('_pkey');
    }
  }
  return fault;
}

function mysqlFault(e: DriverError, code: string): DriverFault {
  let kind = MYSQL_KINDS[code] ?? 'other';
  const text = typeof e.sqlMessage === 'string' ? e.sqlMessage : '';
  if (code === 'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD' && text.startsWith('Incorrect string value')) kind = 'bad_encoding';
  const fault: DriverFault = { kind, code, columns: [] };
  // "… for column 'body' at row 1", "… for column `db`.`t`.`body` at row 1", "Column 'body' cannot be null",
  // "Field 'body' doesn't have a default value": the last quoted identifier before the end of the phrase.
  const named = /for column (.*?) at row \d+/.exec(text)?.[1] ?? /^(?:Column|Field) ('[^']*')/.exec(text)?.[1];
  const column = named ? /[`']?([^`'.]*)[`']?$/.exec(named)?.[1] : undefined;
  if (column) fault.columns = [column];
  if (kind === 'unique') {
    // "Duplicate entry '…' for key 'idx'" (MySQL 8: 'table.idx'). The entry quotes the value: read from the end.
    const key = /for key '([^']*)'$/.exec(text)?.[1];
    if (key !== undefined) {
      fault.index = key.includes('.') ? key.slice(key.lastIndexOf('.') + 1) : key;
      fault.primary = fault.index === 'PRIMARY';
    }
  }
  return fault;
}

function sqliteFault(e: DriverError, code: string): DriverFault {
  const kind = SQLITE_KINDS[code] ?? 'other';
  const fault: DriverFault = { kind, code, columns: [], primary: code === 'SQLITE_CONSTRAINT_PRIMARYKEY' };
  const text = typeof e.message === 'string' ? e.message : '';
  // "NOT NULL constraint failed: t.body", "UNIQUE constraint failed: t.a, t.b", "… failed: index 'name'".
  const list = /constraint failed: (.*)$/.exec(text)?.[1];
  if (list !== undefined && (kind === 'not_null' || kind === 'unique')) {
    const index = /^index '(.*)'$/.exec(list)?.[1];
    if (index !== undefined) fault.index = index;
    else fault.columns = list.split(', ').map((c) => c.slice(c.lastIndexOf('.') + 1));
  }
  return fault;
}

/**
 * The refusal of a request while the database cannot be reached (`what`: what did not happen, for the client).
 * Nothing from the driver: its message may name hosts and ports.
 */
export function storeUnavailable(cause: unknown, what = 'the message was not stored; retry shortly'): MhError {
  return new MhError('MH_ERR_STORE_UNAVAILABLE', [what], { cause });
}

/** The generic refusal of a write the database failed: no SQL, no value, nothing from the driver. */
export function storeFailed(cause: unknown): MhError {
  return new MhError('MH_ERR_STORE_FAILED', ['the message was not stored; the server log has the details'], { cause });
}

type ColumnCode = 'MH_ERR_MSG_VALUE_TOO_LONG' | 'MH_ERR_MSG_OUT_OF_RANGE' | 'MH_ERR_MSG_BAD_ENCODING' | 'MH_ERR_MSG_NOT_NULL';

/**
 * The client's error for `err`, a driver error of one request classified as `fault`. Names only columns of
 * `columns` (the driver's, else the one whose value in the request can have caused it), never a value, except
 * the request's own id for a clash on the id (`MH_ERR_MSG_CONFLICT`, "already exists"). The driver
 * error is the result's `cause`, for the log, never for a client.
 */
export function refusalFor(err: unknown, fault: DriverFault, req: WriteRequest, columns: ReadonlyMap<string, ColumnDef>): MhError {
  const cause = err;
  const named = fault.columns.filter((c) => columns.has(c));
  const column = named.length === 1 ? named[0] : named.length === 0 ? suspect(fault.kind, req.values, columns) : undefined;
  // With the column named by the catalog's template; without, a message that says so.
  const refusal = (code: ColumnCode, message: string): MhError =>
    column !== undefined ? new MhError(code, [column], { cause }) : new MhError(code, [], { message, cause });
  switch (fault.kind) {
    case 'too_long':
      return refusal('MH_ERR_MSG_VALUE_TOO_LONG', 'A value is too long for its column');
    case 'out_of_range':
      return refusal('MH_ERR_MSG_OUT_OF_RANGE', "A number is out of its column's range");
    case 'bad_encoding':
      return refusal('MH_ERR_MSG_BAD_ENCODING', 'A column cannot store this text (a NUL character, or a character outside its encoding)');
    case 'not_null':
      return refusal('MH_ERR_MSG_NOT_NULL', 'A column that needs a value got none');
    case 'unique': {
      const keys = [...columns.values()].filter((c) => c.primaryKey).map((c) => c.name);
      const onKey = fault.primary || (fault.columns.length > 0 && sameSet(fault.columns, keys));
      if (onKey) return new MhError('MH_ERR_MSG_CONFLICT', [], { message: `A message with id ${req.id} already exists`, cause });
      if (named.length === 1) return new MhError('MH_ERR_MSG_CONFLICT', [named[0]], { cause });
      if (named.length > 1 && named.length === fault.columns.length) {
        return new MhError('MH_ERR_MSG_CONFLICT', [], { message: `Another message already has the same columns ${named.map((c) => `"${c}"`).join(', ')}`, cause });
      }
      return new MhError('MH_ERR_MSG_CONFLICT', [], { message: 'Another message already has this value of a unique column', cause });
    }
    case 'bad_value':
      return column !== undefined
        ? new MhError('MH_ERR_MSG_BAD_VALUE', [column, 'this value'], { cause })
        : new MhError('MH_ERR_MSG_BAD_VALUE', [], { message: "A value does not fit its column's type", cause });
    case 'constraint':
      return new MhError('MH_ERR_MSG_CONSTRAINT', [], { message: 'The database refused the message: it breaks a constraint of the table', cause });
    case 'unavailable':
      return storeUnavailable(cause);
    case 'other':
      return storeFailed(cause);
  }
}

const INT32_MAX = 2 ** 31 - 1;
/** Types stored as text here that the database parses (PostgreSQL refuses `"abc"` in a DATE). */
const PARSED_TEXT = /^(DATE|TIME|DATETIME|TIMESTAMP|UUID|JSON)\b/;
/** Text a database may refuse: NUL (PostgreSQL), and astral or lone-surrogate characters (MySQL utf8mb3). */
const HARD_TEXT = /[\0\ud800-\udfff]/;

/**
 * The one column whose value in `values` can have caused a fault of this kind, or undefined if none or several
 * can. Only called after a driver error: it may take its time.
 */
function suspect(kind: FaultKind, values: Row, columns: ReadonlyMap<string, ColumnDef>): string | undefined {
  const fits = SUSPECTS[kind];
  if (!fits) return undefined;
  let found: string | undefined;
  for (const [name, v] of Object.entries(values)) {
    const def = columns.get(name);
    if (!def || !fits(def, v)) continue;
    if (found !== undefined) return undefined;
    found = name;
  }
  return found;
}

const SUSPECTS: Partial<Record<FaultKind, (def: ColumnDef, v: unknown) => boolean>> = {
  too_long: (def, v) => {
    const n = /^(?:VAR)?N?CHAR\s*\(\s*(\d+)\s*\)$/.exec(def.type)?.[1];
    return typeof v === 'string' && n !== undefined && [...v].length > Number(n);
  },
  out_of_range: (def, v) => {
    if (typeof v !== 'number') return false;
    // Every INTEGER but BIGINT is created as a 4-byte integer (store/schema); safe integers fit a BIGINT.
    if (def.kind === 'integer') return !def.type.startsWith('BIGINT') && Math.abs(v) > INT32_MAX;
    const p = /^(?:NUMERIC|DECIMAL)(?:\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?$/.exec(def.type);
    // DECIMAL without precision is created as DECIMAL(18, 6).
    return p !== null && Math.abs(v) >= 10 ** (Number(p[1] ?? 18) - Number(p[2] ?? (p[1] ? 0 : 6)));
  },
  bad_encoding: (def, v) => def.kind === 'text' && typeof v === 'string' && HARD_TEXT.test(v),
  not_null: (def, v) => !def.nullable && (v === null || v === undefined),
  bad_value: (def, v) => def.kind === 'text' && typeof v === 'string' && PARSED_TEXT.test(def.type),
};

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** What the log gets: the driver's code and message (which may hold SQL and values: the log is the operator's). */
export function faultDetail(err: unknown, fault: DriverFault): string {
  const e = err as DriverError | null;
  const message = typeof e?.sqlMessage === 'string' ? e.sqlMessage : typeof e?.message === 'string' ? e.message : String(err);
  return fault.kind === 'other' && err instanceof Error && err.stack && fault.code === err.name ? err.stack : `${fault.code}: ${message}`;
}
