/**
 * @module config/message-handler
 * Validates one `handler: MessageHandler` url entry and compiles everything in it that can be compiled once:
 * columns, the database URL, expressions and alert templates. Every problem becomes a ConfigIssue with its
 * YAML path; nothing is checked again per message.
 */
import { compileAlert, type CompiledAlert, type EmailService } from '../alert/index.js';
import { compileAccessRule, compileOrigins, parseLimits, type AccessRule, type Limits, type OriginCheck } from '../auth/index.js';
import type { ConfigIssue } from '../errors.js';
import { MhError } from '../errors.js';
import { compileExpression, type CompiledExpr } from '../expr/index.js';
import { parseColumn, withBuiltins, SEQ_COLUMN } from '../store/columns.js';
import { parseDbUrl, type DbTarget } from '../store/db-url.js';
import type { Retention, StoredEvent } from '../store/store.js';
import type { Logger } from '../log.js';
import { METHODS, type ColumnDef, type Method, type Row } from '../types.js';
import { HANDLER_DEFAULTS } from './defaults.js';
import { openArgProblems } from './open-args.js';
import { alertSampleProblems } from '../alert/sample.js';
import { pythonHint } from '../expr/python-hints.js';
import type { UrlEntry } from './load.js';

export interface DefaultEntry {
  key: string;
  expr: CompiledExpr;
}

/** A validated, compiled MessageHandler configuration. */
export interface MessageHandlerConfig {
  name: string;
  pattern: string;
  db: DbTarget;
  table: string;
  columns: ReadonlyMap<string, ColumnDef>;
  historyLimit: number;
  maxMessageBytes: number;
  maxBufferedBytes: number;
  maxFilterArgs: number;
  /** Longest substring / text ordering filter value (`max_filter_needle`). */
  maxFilterNeedle: number;
  /** Substring tests per event over all distinct live filters (`max_filter_scans`): see filter/budget.ts. */
  maxFilterScans: number;
  editAny: boolean;
  open?: CompiledExpr;
  prepare?: CompiledExpr;
  modify?: CompiledExpr;
  /** Author defaults per method, in YAML order (built-in POST defaults are applied by the pipeline). */
  defaults: Readonly<Record<Method, readonly DefaultEntry[]>>;
  alert: CompiledAlert | null;
  /** At-least-once delivery per authenticated user. */
  durable: boolean;
  ackTimeoutMs: number;
  /** A history replay whose client reads nothing for this long is ended (it holds a database snapshot). */
  replayStallMs: number;
  /** Whether `_direct: true` frames (live only, never stored) are allowed. */
  direct: boolean;
  /** Bounds of the event record that resume reads. */
  retention: Retention;
  /** Who may connect (`auth:`): null lets everyone in. */
  access: AccessRule | null;
  /** Which browser origins may open sockets or call the HTTP endpoints (`origins:`). */
  origins: OriginCheck;
  /** The `origins:` as written (JSON), for the 403 that names the rule; undefined when absent (same host only). */
  originsSource?: string;
  /** Abuse limits (`limits:`). */
  limits: Limits;
  /** Extra indexes (`indexes:`), each a list of columns; `_seq, id` is appended so filtered history pages use them. */
  indexes: readonly (readonly string[])[];
  /**
   * Set in code by an adapter, never from YAML: rows for its own tables, written in the message's transaction
   * iff the message is stored (e.g. SimpleBus's one delivery row per recipient), given the stored values.
   */
  extraRows?: (values: Row, event: StoredEvent) => { table: string; row: Row }[];
}

const KWARGS = new Set([
  'url',
  'table',
  'columns',
  'history_limit',
  'max_message_bytes',
  'max_buffered_bytes',
  'max_filter_args',
  'max_filter_needle',
  'max_filter_scans',
  'edit',
  'open',
  'prepare',
  'modify',
  'message_default',
  'alert',
  'durable',
  'ack_timeout',
  'replay_stall_timeout',
  'direct',
  'retention',
  'auth',
  'origins',
  'limits',
  'indexes',
]);

export interface CompileContext {
  modules: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  services: ReadonlyMap<string, EmailService>;
  log?: Logger;
}

/** Validates and compiles one entry. Returns the config, or the issues (never both). */
export function compileMessageHandler(
  entry: UrlEntry,
  ctx: CompileContext,
): { config?: MessageHandlerConfig; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const base = `${entry.path}.kwargs`;
  const issue = (sub: string, message: string): void => void issues.push({ path: `${base}${sub}`, message, file: entry.file });
  const kw = entry.kwargs ?? {};

  for (const key of Object.keys(kw)) if (!KWARGS.has(key)) issue(`.${key}`, `unknown MessageHandler key (known: ${[...KWARGS].join(', ')})`);

  // Database and table
  let db: DbTarget | undefined;
  if (typeof kw.url !== 'string' || kw.url === '') issue('.url', 'required: a database URL such as sqlite:///$YAMLPATH/messages.db');
  else {
    try {
      db = parseDbUrl(kw.url, entry.yamlPath);
    } catch (err) {
      issue('.url', (err as Error).message);
    }
  }
  const table = kw.table;
  if (typeof table !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(table)) {
    issue('.table', 'required: a table name of letters, digits and _');
  } else if (table.startsWith('msghub_')) issue('.table', 'names starting with msghub_ are reserved for msghub');

  // Columns
  const declared: ColumnDef[] = [];
  if (kw.columns !== undefined) {
    if (!kw.columns || typeof kw.columns !== 'object' || Array.isArray(kw.columns)) issue('.columns', 'must be a mapping of column name → type');
    else {
      for (const [name, spec] of Object.entries(kw.columns as Record<string, unknown>)) {
        if (name === SEQ_COLUMN) {
          issue(`.columns.${name}`, `${SEQ_COLUMN} is reserved for the sequence number`);
          continue;
        }
        const { def, problems } = parseColumn(name, spec);
        for (const p of problems) issue(`.columns.${name}${p.sub}`, p.message);
        if (def) declared.push(def);
      }
    }
  }
  const columns = withBuiltins(declared);
  // The table's key is `id` (every PUT and DELETE addresses a row by it); a second key column would make the
  // primary key (col, id), unique only as a pair, which is not what `primary_key: true` promises.
  for (const def of declared) {
    if (def.primaryKey && def.name !== 'id') {
      issue(`.columns.${def.name}.primary_key`, 'only id can be the primary key (msghub addresses rows by id); remove primary_key: msghub has no other unique columns');
    }
  }
  const id = columns.get('id')!;
  if (id.kind !== 'text') issue('.columns.id', 'id must be a text column: ids are 22-character strings');

  const int = (key: keyof typeof HANDLER_DEFAULTS, min: number): number => {
    const v = kw[key];
    if (v === undefined) return HANDLER_DEFAULTS[key] as number;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      issue(`.${key}`, `must be an integer ≥ ${min}`);
      return HANDLER_DEFAULTS[key] as number;
    }
    return v;
  };
  const historyLimit = int('history_limit', 0);
  const maxMessageBytes = int('max_message_bytes', 64);
  const maxBufferedBytes = int('max_buffered_bytes', 1024);
  const maxFilterArgs = int('max_filter_args', 1);
  const maxFilterNeedle = int('max_filter_needle', 1);
  const maxFilterScans = int('max_filter_scans', 0);
  const edit = kw.edit ?? HANDLER_DEFAULTS.edit;
  if (edit !== 'owner' && edit !== 'any') issue('.edit', 'must be owner or any');

  // Expressions: compiled here, so a syntax error fails start-up instead of the first message.
  const compile = (sub: string, source: unknown, names: string[], writable: string[]): CompiledExpr | undefined => {
    if (source === undefined || source === null) return undefined;
    if (typeof source !== 'string') {
      issue(sub, 'must be an expression string');
      return undefined;
    }
    try {
      return compileExpression(source, { path: `${base}${sub}`, names, writable, modules: ctx.modules });
    } catch (err) {
      issue(sub, (err instanceof MhError ? err.message : String(err)) + pythonHint(source));
      return undefined;
    }
  };
  const open = compile('.open', kw.open, ['args', 'handler'], ['args']);
  if (open && typeof kw.open === 'string') for (const p of openArgProblems(kw.open, `${base}.open`, columns)) issue('.open', p);
  const prepare = compile('.prepare', kw.prepare, ['msg', 'handler'], ['msg']);
  const modify = compile('.modify', kw.modify, ['msg', 'handler'], ['msg']);

  const defaults: Record<Method, DefaultEntry[]> = { POST: [], PUT: [], DELETE: [] };
  if (kw.message_default !== undefined) {
    const md = kw.message_default;
    if (!md || typeof md !== 'object' || Array.isArray(md)) issue('.message_default', 'must be a mapping {POST: {key: expression}, PUT: …, DELETE: …}');
    else {
      for (const [method, entries] of Object.entries(md as Record<string, unknown>)) {
        const m = method.toUpperCase() as Method;
        if (!METHODS.includes(m)) {
          issue(`.message_default.${method}`, 'must be POST, PUT or DELETE');
          continue;
        }
        if (!entries || typeof entries !== 'object' || Array.isArray(entries)) {
          issue(`.message_default.${method}`, 'must be a mapping of key → expression');
          continue;
        }
        for (const [key, source] of Object.entries(entries as Record<string, unknown>)) {
          const sub = `.message_default.${method}.${key}`;
          // A YAML number/boolean/null is a constant; a string is an expression (quote string constants: "'x'").
          const expr =
            typeof source === 'string'
              ? compile(sub, source, ['msg', 'handler'], ['msg'])
              : source === null || typeof source === 'number' || typeof source === 'boolean'
                ? (((v) => () => v)(source) as CompiledExpr)
                : (issue(sub, 'must be an expression string or a constant'), undefined);
          if (expr) defaults[m].push({ key, expr });
        }
      }
    }
  }

  const bool = (key: string, dflt: boolean): boolean => {
    const v = kw[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') issue(`.${key}`, 'must be true or false');
    return v === true;
  };
  const durable = bool('durable', false);
  const direct = bool('direct', false);
  const seconds = (sub: string, v: unknown, dflt: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) {
      issue(sub, 'must be a positive number of seconds');
      return dflt;
    }
    return v * 1000;
  };
  const ackTimeoutMs = seconds('.ack_timeout', kw.ack_timeout, HANDLER_DEFAULTS.ack_timeout * 1000);
  const replayStallMs = seconds('.replay_stall_timeout', kw.replay_stall_timeout, HANDLER_DEFAULTS.replay_stall_timeout * 1000);
  const retention: Retention = {
    maxCount: HANDLER_DEFAULTS.retention.count,
    maxAgeMs: HANDLER_DEFAULTS.retention.age * 1000,
    idempotencyMs: HANDLER_DEFAULTS.retention.idempotency * 1000,
  };
  if (kw.retention !== undefined) {
    const r = kw.retention;
    if (!r || typeof r !== 'object' || Array.isArray(r)) issue('.retention', 'must be a mapping {count, age, idempotency}');
    else {
      const { count, age, idempotency, ...rest } = r as Record<string, unknown>;
      for (const k of Object.keys(rest)) issue(`.retention.${k}`, 'unknown key (use count, age, idempotency)');
      retention.idempotencyMs = seconds('.retention.idempotency', idempotency, retention.idempotencyMs!);
      if (count !== undefined) {
        if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) issue('.retention.count', 'must be an integer ≥ 1');
        else retention.maxCount = count;
      }
      retention.maxAgeMs = seconds('.retention.age', age, retention.maxAgeMs);
    }
  }

  const { rule: access, issues: accessIssues } = compileAccessRule(kw.auth, { path: `${base}.auth`, file: entry.file, modules: ctx.modules });
  const { check: origins, issues: originIssues } = compileOrigins(kw.origins, { path: `${base}.origins`, file: entry.file });
  const { limits, issues: limitIssues } = parseLimits(kw.limits, { path: `${base}.limits`, file: entry.file });
  issues.push(...accessIssues, ...originIssues, ...limitIssues);

  const indexes: string[][] = [];
  if (kw.indexes !== undefined) {
    if (!Array.isArray(kw.indexes)) issue('.indexes', 'must be a list of column lists, e.g. [[topic], [user, timestamp]]');
    else
      kw.indexes.forEach((spec: unknown, i: number) => {
        const cols = typeof spec === 'string' ? [spec] : spec;
        if (!Array.isArray(cols) || cols.length === 0 || !cols.every((c) => typeof c === 'string' && columns.has(c))) {
          issue(`.indexes[${i}]`, `must be a column name or a list of column names (known: ${[...columns.keys()].join(', ')})`);
        } else indexes.push(cols as string[]);
      });
  }
  // MySQL and MariaDB index TEXT only with a prefix length, which msghub does not make: `serve` would fail with
  // "Specified key was too long" after creating the table, which then keeps TEXT (columns are never altered).
  if (db?.client === 'mysql') {
    indexes.forEach((cols, i) => {
      for (const c of cols) {
        const def = columns.get(c)!;
        if (def.kind === 'text' && !def.primaryKey && !/^(VARCHAR|CHAR|NVARCHAR)\(\d+\)$/.test(def.type)) {
          issue(
            `.indexes[${i}]`,
            `MySQL/MariaDB cannot index the ${def.type} column "${c}": declare it with a length, e.g. ${c}: VARCHAR(64) ` +
              `(if the table exists already, change the column too: ALTER TABLE ${String(table)} MODIFY \`${c}\` VARCHAR(64))`,
          );
        }
      }
    });
  }

  let alert: CompiledAlert | null = null;
  if (kw.alert !== undefined) {
    const r = compileAlert(kw.alert, { path: `${base}.alert`, file: entry.file, yamlPath: entry.yamlPath, services: ctx.services, log: ctx.log });
    issues.push(...r.issues);
    alert = r.alert;
    if (alert) for (const p of alertSampleProblems(alert, columns)) issue(`.alert.${p.field}`, p.message);
  }

  if (issues.length || !db) return { issues };
  return {
    issues,
    config: {
      name: entry.name,
      pattern: entry.pattern,
      db,
      table: table as string,
      columns,
      historyLimit,
      maxMessageBytes,
      maxBufferedBytes,
      maxFilterArgs,
      maxFilterNeedle,
      maxFilterScans,
      editAny: edit === 'any',
      open,
      prepare,
      modify,
      defaults,
      alert,
      durable,
      ackTimeoutMs,
      replayStallMs,
      direct,
      retention,
      access,
      origins,
      originsSource: kw.origins === undefined || kw.origins === null ? undefined : JSON.stringify(kw.origins),
      limits,
      indexes,
    },
  };
}
