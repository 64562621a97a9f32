/**
 * @module errors
 * The one catalog of msghub errors. Every error a client, an operator or an app author can see has a stable
 * code here, a message template (`%s` placeholders filled in order), the HTTP status it maps to and, for errors
 * that end a WebSocket, the close code. `docs/errors.md` documents the same table and a test keeps the two in
 * sync, so a code never changes meaning silently.
 */

/** WebSocket close codes msghub uses. 44xx: the client did something wrong; 45xx: the server failed. */
export const CloseCode = {
  Normal: 1000,
  /** The server is shutting down (or the handler was closed). Reconnect later. */
  GoingAway: 1001,
  /** A frame exceeded the size limit. */
  MessageTooBig: 1009,
  InternalError: 1011,
  BadRequest: 4400,
  Unauthorized: 4401,
  Forbidden: 4403,
  /** The subscriber read too slowly and its send queue passed the byte limit. Reconnect and resume. */
  SlowConsumer: 4408,
  TooManyRequests: 4429,
  InternalServerError: 4500,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

export interface ErrorSpec {
  /** Message template; `%s` is replaced by the arguments in order. */
  readonly message: string;
  /** HTTP status for HTTP transports and handshake refusals. */
  readonly status: number;
  /** WebSocket close code when this error ends a connection (most frame errors do not). */
  readonly close?: CloseCode;
}

function spec(message: string, status: number, close?: CloseCode): ErrorSpec {
  return { message, status, close };
}

export const catalog = {
  // ── config: reported by `msghub check` and at start-up, each with its YAML path ──
  MH_ERR_CONFIG_INVALID: spec('Invalid configuration: %s', 500),
  MH_ERR_CONFIG_FILE: spec('Cannot read configuration file %s: %s', 500),
  MH_ERR_CONFIG_YAML: spec('YAML syntax error: %s', 500),

  // ── expressions: compile-time (config) and run-time (per message) ──
  MH_ERR_EXPR_SYNTAX: spec('Syntax error in expression at column %s: %s', 500),
  MH_ERR_EXPR_FORBIDDEN: spec('Expression may not use %s', 400),
  MH_ERR_EXPR_BUDGET: spec('Expression exceeded its limit: %s', 400),
  MH_ERR_EXPR_RUNTIME: spec('Expression failed: %s', 400),

  // ── messages: a bad frame or request body; the connection stays open ──
  MH_ERR_MSG_NOT_JSON: spec('Message is not valid JSON: %s', 400),
  MH_ERR_MSG_NOT_OBJECT: spec('Message must be a JSON object, got %s', 400),
  MH_ERR_MSG_BAD_METHOD: spec('_method must be POST, PUT or DELETE, got %s', 400),
  MH_ERR_MSG_MISSING_ID: spec('%s needs a non-empty string "id"', 400),
  MH_ERR_MSG_NOT_FOUND: spec('No message with id %s', 404),
  MH_ERR_MSG_BAD_VALUE: spec('Column "%s" cannot store %s', 400),
  MH_ERR_MSG_TOO_LARGE: spec('Message is %s bytes; the limit is %s', 413, CloseCode.MessageTooBig),
  MH_ERR_MSG_REJECTED: spec('%s', 400),
  MH_ERR_MSG_FORBIDDEN: spec('%s', 403),
  // The database refused a value (store/driver-errors): each names the column, never the SQL or a value.
  MH_ERR_MSG_VALUE_TOO_LONG: spec('Value too long for column "%s"', 400),
  MH_ERR_MSG_OUT_OF_RANGE: spec('Number out of range for column "%s"', 400),
  MH_ERR_MSG_BAD_ENCODING: spec('Column "%s" cannot store this text (a NUL character, or a character outside its encoding)', 400),
  MH_ERR_MSG_NOT_NULL: spec('Column "%s" needs a value', 400),
  MH_ERR_MSG_CONSTRAINT: spec('The database refused the message: it breaks a constraint of the table (%s)', 400),
  MH_ERR_MSG_CONFLICT: spec('Another message already has this value of column "%s"', 409),
  MH_ERR_MSG_TOO_DEEP: spec('Message nests arrays and objects deeper than %s levels', 400),
  MH_ERR_MSG_BAD_TEXT: spec('Message text is not well-formed Unicode (a lone surrogate) in %s', 400),
  MH_ERR_MSG_RESERVED_KEY: spec('Key "%s" is reserved for the server', 400),
  MH_ERR_MSG_DELETE_KEYS: spec('DELETE addresses one row by "id" alone; %s would be conditions in Gramex and are not evaluated here: send only the id, or check the row in prepare', 400),
  MH_ERR_CONTROL_REFUSED: spec('Not here: %s', 400),
  MH_ERR_IDEMPOTENCY_KEY: spec('Bad idempotency key: %s', 400),

  // ── filters: query-string arguments of a subscription or read ──
  MH_ERR_FILTER_COLUMN: spec('Unknown filter column "%s"', 400, CloseCode.BadRequest),
  MH_ERR_FILTER_VALUE: spec('Bad filter value for %s: %s', 400, CloseCode.BadRequest),
  MH_ERR_FILTER_BUDGET: spec('Too much filter work on this handler: %s', 429, CloseCode.TooManyRequests),

  // ── access ──
  MH_ERR_AUTH_REQUIRED: spec('Authentication required', 401, CloseCode.Unauthorized),
  MH_ERR_AUTH_FORBIDDEN: spec('Forbidden: %s', 403, CloseCode.Forbidden),
  MH_ERR_RATE_LIMITED: spec('Too many messages: %s', 429, CloseCode.TooManyRequests),
  MH_ERR_AUTH_EXPIRED: spec('Token expired; send {"_auth": <token>} before it expires to stay connected', 401, CloseCode.Unauthorized),
  MH_ERR_TOO_MANY_CONNECTIONS: spec('Too many connections: %s', 429, CloseCode.TooManyRequests),

  // ── delivery ──
  MH_ERR_SLOW_CONSUMER: spec('Send queue passed %s bytes; reconnect to resume', 503, CloseCode.SlowConsumer),
  MH_ERR_REPLAY_STALLED: spec('History replay stalled: nothing was read for %s s; reconnect to resume', 503, CloseCode.SlowConsumer),
  MH_ERR_TOO_MANY_UNACKED: spec('More than %s events sent and not acknowledged; reconnect to resume', 503, CloseCode.SlowConsumer),
  MH_ERR_EARLY_FLOOD: spec('More than %s frames before the connection was ready', 429, CloseCode.TooManyRequests),
  MH_ERR_SHUTTING_DOWN: spec('Server is shutting down', 503, CloseCode.GoingAway),
  MH_ERR_OVERLOADED: spec('Too many messages waiting to be stored (%s); retry shortly', 503),

  // ── server ──
  MH_ERR_STORE_FAILED: spec('Database error: %s', 500, CloseCode.InternalServerError),
  // The database cannot be reached (down, restarting, connection lost): a retry later may succeed.
  MH_ERR_STORE_UNAVAILABLE: spec('Database unavailable: %s', 503, CloseCode.GoingAway),
  MH_ERR_INTERNAL: spec('Internal server error', 500, CloseCode.InternalError),
  MH_ERR_HTTP_METHOD: spec('Method %s is not allowed here', 405),
  MH_ERR_HTTP_BODY: spec('Bad request body: %s', 400),
  // Server code called `MessageService.publish` with a name that is not a MessageHandler of the config.
  MH_ERR_NO_HANDLER: spec('No MessageHandler named %s (there are: %s)', 500),

  // ── Texto v1 (compat/texto): sent as Texto's own error codes, with Texto's descriptions (compat/texto/codec.ts) ──
  MH_ERR_TEXTO_SYNTAX: spec('Unable to process the message due to a syntax error.', 400),
  MH_ERR_TEXTO_CLIENT_ID: spec("The submitted client ID doesn't match the current session.", 403),
  MH_ERR_TEXTO_KIND: spec('Invalid message kind received.', 400),

  // ── SimpleBus (compat/simplebus): refusals answered as SimpleBus answers them, a text body in its own words ──
  MH_ERR_SIMPLEBUS_REQUEST: spec('%s', 400),
  MH_ERR_SIMPLEBUS_UNAUTHORIZED: spec('Unauthorized Access', 401),
  MH_ERR_SIMPLEBUS_NO_CONFIRMATION: spec('NO CONFIRMATION within %s s', 504),
  MH_ERR_SIMPLEBUS_FILE_NOT_FOUND: spec('FILE NOT FOUND', 404),
  MH_ERR_SIMPLEBUS_FILE_TOO_LARGE: spec('File "%s" is larger than max_file_bytes (%s bytes)', 413),
  MH_ERR_SIMPLEBUS_NO_FILES: spec('This bus takes no files: its SimpleBusHandler has no files_path', 501),
} as const satisfies Record<string, ErrorSpec>;

export type MhErrorCode = keyof typeof catalog;

/** Fills `%s` placeholders in order. Missing arguments leave the placeholder empty. */
export function formatMessage(template: string, args: readonly unknown[]): string {
  let i = 0;
  return template.replace(/%s/g, () => String(args[i++] ?? ''));
}

export interface MhErrorOptions {
  cause?: unknown;
  /** YAML path of the config entry at fault (config and expression compile errors). */
  path?: string;
  /** Exact client-facing message, when the template is not enough (e.g. `reject('...')`). */
  message?: string;
}

/** An error with a stable catalog code. Everything msghub throws on purpose is one of these. */
export class MhError extends Error {
  readonly code: MhErrorCode;
  readonly status: number;
  readonly closeCode: CloseCode | undefined;
  readonly path: string | undefined;

  constructor(code: MhErrorCode, args: readonly unknown[] = [], options: MhErrorOptions = {}) {
    const entry: ErrorSpec = catalog[code];
    super(options.message ?? formatMessage(entry.message, args), { cause: options.cause });
    this.name = 'MhError';
    this.code = code;
    this.status = entry.status;
    this.closeCode = entry.close;
    this.path = options.path;
  }

  /** The `_error` payload sent to clients. */
  toJSON(): { code: MhErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** One problem found while loading configuration. */
export interface ConfigIssue {
  /** Dotted YAML path, e.g. `url.comments.kwargs.columns.body`. */
  path: string;
  message: string;
  /** File the entry came from (for `import:`ed files). */
  file?: string;
}

/** Thrown once at load with every problem found, so an author fixes them all in one pass. */
export class ConfigError extends MhError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super('MH_ERR_CONFIG_INVALID', [
      issues.map((i) => `\n  ${i.file ? i.file + ': ' : ''}${i.path}: ${i.message}`).join(''),
    ]);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/**
 * Turns anything thrown into an MhError. Unknown errors become MH_ERR_INTERNAL; their detail is logged by the
 * caller, never sent to clients, so stack traces and SQL do not leak.
 */
export function toMhError(err: unknown): MhError {
  if (err instanceof MhError) return err;
  return new MhError('MH_ERR_INTERNAL', [], { cause: err });
}
