#!/usr/bin/env node
/**
 * @module cli
 * msghub serve [CONFIG] [--port N] [--host H] [--metrics-port N] [--metrics-host H] [--log-format F] [--log-level L]
 * msghub check [CONFIG]                  validate only; print every problem with its YAML path (exit 1 if any)
 * msghub alerts [CONFIG] [--state S]     show the alert outbox of every handler database (needs no other secret)
 * msghub status [CONFIG] [--url URL]     ask a running server for its status (the metrics listener's JSON)
 * msghub --version | --help
 *
 * Exit codes: 0 done; 1 failed (a config error, a busy port, a database that cannot be read); 2 usage error (an
 * unknown command or option, an option the command does not take, a bad value), with one line and the usage.
 */
import { existsSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import { parseArgs } from 'node:util';
import knexFactory from 'knex';
import { OUTBOX_STATES, formatOutbox, listOutbox } from './alert/index.js';
import { inspectConfig, type UrlEntry } from './config/load.js';
import { ConfigError, MhError, type ConfigIssue } from './errors.js';
import { LOG_LEVELS, consoleLogger, envLogLevel, pinoLogger, type Logger } from './log.js';
import { createServer } from './mount/http.js';
import { OPS_DEFAULTS, parseOpsConfig, type MetricsConfig } from './ops/config.js';
import { createOpsHandler } from './ops/http.js';
import { MessageService, compileService } from './service.js';
import { knexConfig } from './store/base-store.js';
import { parseDbUrl, type DbTarget } from './store/db-url.js';

const USAGE = `usage:
  msghub serve [CONFIG] [--port N] [--host H] [--metrics-port N] [--metrics-host H]
               [--log-format json|pretty] [--log-level error|warn|info|silent]
  msghub check [CONFIG]
  msghub alerts [CONFIG] [--state pending|sending|sent|dead]
  msghub status [CONFIG] [--url URL]
  msghub --version
CONFIG defaults to ./gramex.yaml.`;

/** Every option any command takes; `commands` says which command takes it. */
const OPTIONS = {
  port: { type: 'string', commands: ['serve'] },
  host: { type: 'string', commands: ['serve'] },
  'metrics-port': { type: 'string', commands: ['serve'] },
  'metrics-host': { type: 'string', commands: ['serve'] },
  'log-format': { type: 'string', commands: ['serve'] },
  'log-level': { type: 'string', commands: ['serve'] },
  state: { type: 'string', commands: ['alerts'] },
  url: { type: 'string', commands: ['status'] },
  help: { type: 'boolean', short: 'h', commands: null },
  version: { type: 'boolean', short: 'v', commands: null },
} as const;
type OptionName = keyof typeof OPTIONS;
const COMMANDS = ['serve', 'check', 'alerts', 'status'];

/** A usage error: one line on stderr, then the usage; exit 2. */
class UsageError extends Error {}

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * Parses the command line without ever throwing Node's raw ERR_PARSE_ARGS_* errors at the user: every problem
 * is a UsageError naming the option.
 */
function parseCommandLine(argv: string[]): { command: string | undefined; config: string; values: Partial<Record<OptionName, string | boolean>> } {
  const spec = Object.fromEntries(Object.entries(OPTIONS).map(([k, v]) => [k, { type: v.type, ...('short' in v ? { short: v.short } : {}) }]));
  const { tokens } = parseArgs({ args: argv, options: spec, allowPositionals: true, strict: false, tokens: true });
  const positionals: string[] = [];
  const options: { name: string; raw: string; value: string | undefined; index: number }[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') positionals.push(t.value);
    else if (t.kind === 'option') options.push({ name: t.name, raw: t.rawName, value: t.value, index: t.index });
  }
  const [command, config = 'gramex.yaml', ...extra] = positionals;
  const values: Partial<Record<OptionName, string | boolean>> = Object.create(null) as Partial<Record<OptionName, string | boolean>>;
  for (const o of options) {
    if (!Object.hasOwn(OPTIONS, o.name)) throw new UsageError(`unknown option ${o.raw}`);
    const def = OPTIONS[o.name as OptionName];
    if (def.commands && command && COMMANDS.includes(command) && !(def.commands as readonly string[]).includes(command)) {
      throw new UsageError(`msghub ${command} does not take ${o.raw}`);
    }
    if (def.type === 'boolean') {
      if (o.value !== undefined) throw new UsageError(`${o.raw} takes no value`);
      values[o.name as OptionName] = true;
    } else {
      if (o.value === undefined || o.value.startsWith('-')) throw new UsageError(`${o.raw} needs a value`);
      values[o.name as OptionName] = o.value;
    }
  }
  if (values.help || values.version) return { command, config, values };
  if (!command) throw new UsageError('no command given');
  if (!COMMANDS.includes(command)) throw new UsageError(`unknown command ${command}`);
  if (extra.length) throw new UsageError(`unexpected argument ${extra[0]}`);
  return { command, config, values };
}

function portOption(name: string, value: string | boolean | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (typeof value !== 'string' || !/^\d{1,5}$/.test(value) || port > 65535) throw new UsageError(`--${name} must be an integer 0..65535, got ${String(value)}`);
  return port;
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`msghub: ${err.message}\n${USAGE}\n`);
    return 2;
  }
  const { command, config, values } = parsed;
  if (values.version) {
    process.stdout.write(`msghub ${version()}\n`);
    return 0;
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  try {
    if (command === 'check') {
      // Advice found while compiling (an alert falling back to the first email service) is not a problem: one
      // `warn: …` line each on stderr, without the server log's timestamp, and the check still passes.
      await compileService(config, { log: (level, message) => void process.stderr.write(`${level}: ${message}\n`) });
      process.stdout.write(`${config}: OK\n`);
      return 0;
    }
    if (command === 'alerts') {
      const state = values.state as string | undefined;
      if (state !== undefined && !(OUTBOX_STATES as readonly string[]).includes(state)) throw new UsageError(`--state must be one of ${OUTBOX_STATES.join(', ')}`);
      return await alerts(config, state);
    }
    if (command === 'status') return await status(config, values.url as string | undefined);
    const format = (values['log-format'] as string | undefined) ?? (process.stderr.isTTY ? 'pretty' : 'json');
    if (format !== 'json' && format !== 'pretty') throw new UsageError(`--log-format must be json or pretty, got ${format}`);
    const level = (values['log-level'] as string | undefined) ?? envLogLevel();
    if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`--log-level (or MSGHUB_LOG_LEVEL) must be one of ${LOG_LEVELS.join(', ')}, got ${level}`);
    return await serve(config, {
      port: portOption('port', values.port),
      host: values.host as string | undefined,
      metricsPort: portOption('metrics-port', values['metrics-port']),
      metricsHost: values['metrics-host'] as string | undefined,
      log: await makeLogger(format, level),
    });
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`msghub: ${err.message}\n${USAGE}\n`);
    return 2;
  }
}

/**
 * `json`: pino, one JSON line per event on stderr (synchronous writes: the last lines before an exit are not
 * lost). `pretty`: msghub's own text lines (pino-pretty is not a runtime dependency).
 */
async function makeLogger(format: string, level: string): Promise<Logger> {
  if (format === 'pretty') return consoleLogger(level);
  const { pino } = await import('pino');
  const logger = pino(
    {
      level,
      base: { pid: process.pid, name: 'msghub' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 2, sync: true }),
  );
  return pinoLogger(logger);
}

interface ServeOptions {
  port?: number;
  host?: string;
  metricsPort?: number;
  metricsHost?: string;
  log: Logger;
}

/** Listens, or rejects with one clear line for the usual failures (a busy port, a port that needs root). */
function listen(server: http.Server, port: number, host: string, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
      const why =
        err.code === 'EADDRINUSE'
          ? 'the port is already in use (is another msghub running?)'
          : err.code === 'EACCES'
            ? 'permission denied (ports below 1024 need privileges)'
            : err.code === 'EADDRNOTAVAIL'
              ? 'no such address on this machine'
              : err.message;
      reject(new CliError(`cannot listen for ${what} on ${where}: ${why}`));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/** A failure the CLI reports in one line (exit 1). */
class CliError extends Error {}

async function serve(config: string, opts: ServeOptions): Promise<number> {
  const { log } = opts;
  const service = await MessageService.start(config, { log });
  const ops = service.compiled.ops;
  // --metrics-port turns the metrics listener on (or moves it), whatever the config says.
  const metrics: MetricsConfig | null =
    opts.metricsPort !== undefined
      ? {
          ...(ops.metrics ?? { path: OPS_DEFAULTS.metricsPath, statusPath: OPS_DEFAULTS.statusPath, token: null, processMetrics: true, host: OPS_DEFAULTS.metricsHost }),
          port: opts.metricsPort,
          ...(opts.metricsHost ? { host: opts.metricsHost } : {}),
        }
      : ops.metrics && opts.metricsHost
        ? { ...ops.metrics, host: opts.metricsHost }
        : ops.metrics;
  if (metrics) service.metricsRegistry({ processMetrics: metrics.processMetrics });
  // On the public port: health always (unless turned off), metrics only behind a token.
  const publicOps = createOpsHandler(service, { health: ops.health, metrics: metrics && metrics.port === null ? metrics : null });
  const { server, close } = createServer(service, publicOps);
  let metricsServer: http.Server | null = null;
  const closeAll = async (): Promise<void> => {
    if (metricsServer) {
      const m = metricsServer;
      const closed = new Promise<void>((resolve) => m.close(() => resolve()));
      // A scraper's keep-alive connection must not hold the shutdown.
      m.closeAllConnections();
      await closed;
    }
    await close();
  };
  const host = opts.host ?? service.listen.host;
  const lines: string[] = [];
  try {
    const actual = await listen(server, opts.port ?? service.listen.port, host, 'clients');
    if (metrics && metrics.port !== null) {
      const { createServer: httpServer } = await import('node:http');
      const handler = createOpsHandler(service, { health: ops.health, metrics });
      metricsServer = httpServer((req, res) => {
        if (!handler(req, res)) {
          res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
          res.end('Not found\n');
        }
      });
      const mport = await listen(metricsServer, metrics.port, metrics.host, 'metrics');
      lines.push(`msghub metrics on ${url(metrics.host, mport)}${metrics.path}\n`);
    }
    lines.push(`msghub listening on ${url(host, actual)}\n`);
  } catch (err) {
    await closeAll().catch(() => undefined);
    throw err;
  }

  const exit = new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log('info', `${signal}: shutting down`);
      closeAll().then(
        () => resolve(0),
        (err) => {
          log('error', 'shutdown failed', err);
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  // Only now say we listen: a supervisor that signals us as soon as it reads this line must find the handlers.
  for (const line of lines) process.stdout.write(line);
  log('info', lines.at(-1)!.trim().replace(/^msghub /, ''));
  return exit;
}

function url(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Loads the config for a command that reads only part of it (`alerts`, `status`): a variable that is not set
 * matters only where that command needs its value, so `msghub alerts` runs without the SMTP password or the JWT
 * secret. Any other problem (a YAML error, an unreadable file) still fails.
 */
async function loadTolerant(config: string): Promise<{ entries: readonly UrlEntry[]; issues: readonly ConfigIssue[]; sections: Record<string, { value: unknown; file: string }>; listen: { port?: number; host?: string } }> {
  const loaded = await inspectConfig(config);
  const unset = (i: ConfigIssue): boolean => /^environment variable \$\w+ is not set/.test(i.message);
  const fatal = loaded.issues.filter((i) => !unset(i) && !i.path.startsWith('url.') && !['email', 'auth', 'bus', 'trust_proxy', 'modules'].some((s) => i.path === s || i.path.startsWith(s + '.')));
  if (fatal.length) throw new ConfigError(fatal);
  return { entries: loaded.checkable, issues: loaded.issues, sections: loaded.config.sections, listen: loaded.config.listen };
}

async function alerts(config: string, state?: string): Promise<number> {
  const { entries, issues } = await loadTolerant(config);
  const targets = new Map<string, DbTarget>();
  const problems: ConfigIssue[] = [];
  for (const entry of entries) {
    if (entry.handler !== 'MessageHandler' || !entry.kwargs.alert) continue;
    const at = `${entry.path}.kwargs.url`;
    // This command needs exactly one value: the database URL of each entry that alerts.
    const urlIssue = issues.find((i) => i.path === at || i.path.startsWith(at + '.'));
    if (urlIssue) {
      problems.push({ ...urlIssue, message: `${urlIssue.message} (needed to read this entry's outbox)` });
      continue;
    }
    try {
      const target = parseDbUrl(String(entry.kwargs.url ?? ''), entry.yamlPath);
      if (!targets.has(target.key)) targets.set(target.key, target);
    } catch (err) {
      problems.push({ path: at, message: (err as Error).message, file: entry.file });
    }
  }
  if (problems.length) throw new ConfigError(problems);
  let total = 0;
  for (const target of targets.values()) {
    const name = target.filename ?? target.key;
    // A read-only command: never create a database file that does not exist yet.
    if (target.filename && (target.filename === ':memory:' || !existsSync(target.filename))) {
      process.stdout.write(`# ${name}\n(no database yet)\n`);
      continue;
    }
    const knex = knexFactory(knexConfig(target));
    try {
      const rows = await listOutbox(knex, state ? { state } : undefined).catch((err: Error) => {
        if (/no such table|does not exist|doesn't exist/i.test(err.message)) return [];
        throw err;
      });
      process.stdout.write(`# ${name}\n${formatOutbox(rows)}`);
      total += rows.length;
    } finally {
      await knex.destroy();
    }
  }
  process.stdout.write(`${total} alert(s)\n`);
  return 0;
}

/**
 * Asks a running server for its status: `--url`, else the config's metrics listener (`metrics.port`, or the
 * public port when metrics sit behind a token there), with the config's token.
 */
async function status(config: string, urlArg?: string): Promise<number> {
  const { sections, listen: pub, issues } = await loadTolerant(config);
  const tokenIssue = issues.find((i) => i.path === 'metrics' || i.path.startsWith('metrics.'));
  if (tokenIssue) throw new ConfigError([tokenIssue]);
  const { config: ops, issues: opsIssues } = parseOpsConfig(sections.metrics?.value, sections.health?.value, { metrics: { file: sections.metrics?.file } });
  const mIssues = opsIssues.filter((i) => i.path.startsWith('metrics'));
  if (mIssues.length) throw new ConfigError(mIssues);
  const m = ops.metrics;
  let target = urlArg;
  if (!target) {
    if (!m) throw new CliError('the config has no metrics: section; give --url http://HOST:PORT/status (the metrics listener of msghub serve --metrics-port)');
    const host = m.port !== null ? m.host : (pub.host ?? '127.0.0.1');
    const port = m.port ?? pub.port ?? 9988;
    target = `${url(host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host, port)}${m.statusPath}`;
  }
  let res: Response;
  try {
    res = await fetch(target, { headers: m?.token ? { Authorization: `Bearer ${m.token}` } : {}, signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new CliError(`cannot reach ${target}: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`);
  }
  const body = await res.text();
  if (!res.ok) throw new CliError(`${target} answered ${res.status}: ${body.trim().slice(0, 300)}`);
  process.stdout.write(JSON.stringify(JSON.parse(body), null, 2) + '\n');
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof ConfigError) {
      for (const i of err.issues) process.stderr.write(`${i.file ? i.file + ': ' : ''}${i.path}: ${i.message}\n`);
      process.stderr.write(`${err.issues.length} configuration error(s)\n`);
    } else if (err instanceof MhError) {
      process.stderr.write(`${err.code}: ${err.message}\n`);
    } else if (err instanceof CliError) {
      process.stderr.write(`msghub: ${err.message}\n`);
    } else {
      process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
    }
    process.exit(1);
  },
);
