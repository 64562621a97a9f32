/**
 * @module log
 * The one place msghub writes diagnostics. Level from MSGHUB_LOG_LEVEL (or MSGHUB_LOG): error | warn | info |
 * silent; default info. Embedders pass their own Logger instead; the CLI adapts pino to it (`pinoLogger`) for
 * `--log-format json`.
 */
export type LogLevel = 'info' | 'warn' | 'error';

/**
 * Context of a log line about one connection or request: `conn` (the client's address:port, as the server's
 * socket sees it) or `req` (the request's `X-Request-Id`, else its address:port). Cheap by design: nothing is
 * stored per connection to make them.
 */
export type LogFields = Readonly<Record<string, string | number>>;

/** Loggers that take three arguments keep working: `fields` is extra context they may ignore. */
export type Logger = (level: LogLevel, message: string, err?: unknown, fields?: LogFields) => void;

const RANK: Record<string, number> = { silent: 0, error: 1, warn: 2, info: 3 };

/** The level names `--log-level` and MSGHUB_LOG_LEVEL accept. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'silent'] as const;

/** The threshold from the environment: MSGHUB_LOG_LEVEL, then MSGHUB_LOG (older name), then info. */
export function envLogLevel(env: Record<string, string | undefined> = process.env): string {
  return env.MSGHUB_LOG_LEVEL ?? env.MSGHUB_LOG ?? 'info';
}

/** Logs text lines to stderr, so stdout stays clean for the CLI's one "listening" line. */
export function consoleLogger(threshold = envLogLevel()): Logger {
  const max = RANK[threshold] ?? RANK.info!;
  return (level, message, err, fields) => {
    if (RANK[level]! > max) return;
    let context = '';
    if (fields) for (const k of Object.keys(fields)) context += ` ${k}=${fields[k]}`;
    const detail = err instanceof Error ? `: ${err.stack ?? err.message}` : err !== undefined ? `: ${String(err)}` : '';
    process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase()} msghub ${message}${context}${detail}\n`);
  };
}

/** The part of a pino logger msghub needs (a type only: pino is loaded by whoever makes the logger). */
export interface PinoLike {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Adapts a pino logger: one JSON line per call, the message as `msg`, `fields` merged in, and an error as `err`
 * (pino's serializer: type, message, stack, in the same line). A thrown non-Error is logged as `err: String(x)`.
 */
export function pinoLogger(p: PinoLike): Logger {
  return (level, message, err, fields) => {
    const obj: Record<string, unknown> = fields ? { ...fields } : {};
    if (err !== undefined) obj.err = err instanceof Error ? err : { message: String(err) };
    p[level](obj, message);
  };
}
