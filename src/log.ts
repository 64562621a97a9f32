/**
 * @module log
 * The one place msghub writes diagnostics. Level from MSGHUB_LOG (error | warn | info | silent; default info).
 * Embedders pass their own Logger instead.
 */
export type LogLevel = 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, message: string, err?: unknown) => void;

const RANK: Record<string, number> = { silent: 0, error: 1, warn: 2, info: 3 };

/** Logs to stderr, so stdout stays clean for the CLI's one "listening" line. */
export function consoleLogger(threshold = process.env.MSGHUB_LOG ?? 'info'): Logger {
  const max = RANK[threshold] ?? RANK.info!;
  return (level, message, err) => {
    if (RANK[level]! > max) return;
    const detail = err instanceof Error ? `: ${err.stack ?? err.message}` : err !== undefined ? `: ${String(err)}` : '';
    process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase()} msghub ${message}${detail}\n`);
  };
}
