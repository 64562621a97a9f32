#!/usr/bin/env node
/**
 * @module cli
 * msghub serve [CONFIG] [--port N] [--host H]   run the app (CONFIG defaults to ./gramex.yaml)
 * msghub check [CONFIG]                          validate only; print every problem with its YAML path (exit 1 if any)
 * msghub alerts [CONFIG] [--state S]             show the alert outbox of every handler database
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { OUTBOX_STATES, formatOutbox, listOutbox } from './alert/index.js';
import { ConfigError, MhError } from './errors.js';
import { consoleLogger } from './log.js';
import { createServer } from './mount/http.js';
import { MessageService, compileService } from './service.js';
import { createStore } from './store/sql-store.js';

const USAGE = `usage:
  msghub serve [CONFIG] [--port N] [--host H]
  msghub check [CONFIG]
  msghub alerts [CONFIG] [--state pending|sending|sent|dead]`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { port: { type: 'string' }, host: { type: 'string' }, state: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [command, config = 'gramex.yaml', ...extra] = positionals;
  if (values.help || !command || extra.length) {
    process.stdout.write(USAGE + '\n');
    return values.help ? 0 : 2;
  }
  if (command === 'check') {
    // Advice found while compiling (an alert falling back to the first email service) is not a problem: one
    // `warn: …` line each on stderr, without the server log's timestamp, and the check still passes.
    await compileService(config, { log: (level, message) => void process.stderr.write(`${level}: ${message}\n`) });
    process.stdout.write(`${config}: OK\n`);
    return 0;
  }
  if (command === 'alerts') {
    if (values.state && !(OUTBOX_STATES as readonly string[]).includes(values.state)) {
      process.stderr.write(`--state must be one of ${OUTBOX_STATES.join(', ')}\n`);
      return 2;
    }
    return alerts(config, values.state);
  }
  if (command === 'serve') return serve(config, values.port, values.host);
  process.stderr.write(`unknown command ${command}\n${USAGE}\n`);
  return 2;
}

async function serve(config: string, portArg?: string, hostArg?: string): Promise<number> {
  const log = consoleLogger();
  const port = portArg !== undefined ? Number(portArg) : undefined;
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    process.stderr.write(`--port must be an integer 0..65535, got ${portArg}\n`);
    return 2;
  }
  const service = await MessageService.start(config, { log });
  const { server, close } = createServer(service);
  const host = hostArg ?? service.listen.host;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port ?? service.listen.port, host, () => resolve());
  });
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  process.stdout.write(`msghub listening on http://${host.includes(':') ? `[${host}]` : host}:${actual}\n`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log('info', `${signal}: shutting down`);
      close().then(
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
}

async function alerts(config: string, state?: string): Promise<number> {
  const { messageHandlers } = await compileService(config);
  const seen = new Set<string>();
  let total = 0;
  for (const { config: h } of messageHandlers) {
    if (!h.alert || seen.has(h.db.key)) continue;
    seen.add(h.db.key);
    // A read-only command: never create a database file that does not exist yet.
    if (h.db.filename && !existsSync(h.db.filename)) {
      process.stdout.write(`# ${h.db.filename}\n(no database yet)\n`);
      continue;
    }
    const store = createStore(h.db, h.table, h.columns);
    try {
      const rows = await listOutbox(store.knex(), state ? { state } : undefined).catch((err: Error) => {
        if (/no such table|does not exist|doesn't exist/i.test(err.message)) return [];
        throw err;
      });
      process.stdout.write(`# ${h.db.filename ?? h.db.key}\n${formatOutbox(rows)}`);
      total += rows.length;
    } finally {
      await store.close();
    }
  }
  process.stdout.write(`${total} alert(s)\n`);
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
    } else {
      process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
    }
    process.exit(1);
  },
);
