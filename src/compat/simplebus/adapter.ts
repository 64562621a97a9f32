/**
 * @module compat/simplebus/adapter
 * `handler: SimpleBusHandler`: SimpleBus (the SimpleUI / 1C message bus) on msghub's core. docs/compat.md has
 * the configuration, the client settings and every difference from the original; runtime.ts says where each
 * delivery guarantee comes from.
 *
 * kwargs: `url`, `table` (required, as MessageHandler), `limits`, `alert`, `retention`, `origins`,
 * `max_message_bytes`, `max_filter_scans` (as MessageHandler); `redelivery_seconds` (10), `max_redeliveries`
 * (100), `ping_seconds` (1), `uid_required` (true), `direct_timeout_seconds` (30), `files_path`,
 * `max_file_bytes` (1 GiB). The message table's columns are fixed (codec.ts); the handler is `direct: true`
 * (SimpleBus's direct mode), keeps no history for sockets (a bus client gets its pending deliveries instead),
 * and each connected user's live filter (`recipients` holds `|me|`) is a lookup in the hub's token index, not a
 * scan (filter/indexable.ts), so it costs nothing per event and nothing of `max_filter_scans`.
 */
import path from 'node:path';
import { refuseUpgrade } from '../../auth/gate.js';
import type { UrlEntry } from '../../config/load.js';
import { compileMessageHandler, type CompileContext } from '../../config/message-handler.js';
import type { ConfigIssue } from '../../errors.js';
import type { ExprHandler } from '../../pipeline/defaults.js';
import type { Adapter, AdapterHost, CompiledAdapter, MountedAdapter } from '../adapter.js';
import { routeMessage } from './addressing.js';
import { columnSpecs, simpleBusCodec } from './codec.js';
import { answer, serveHttp } from './http.js';
import { SimpleBusRuntime, type SimpleBusOptions } from './runtime.js';
import { openBusSocket } from './ws.js';

/** What compile hands mount: the options, and the slot the pipeline's hooks find the mounted runtime in. */
export interface SimpleBusCompiled extends SimpleBusOptions {
  slot: { runtime: SimpleBusRuntime | null };
}

/** Longest `table`: 63 (PostgreSQL's identifier length) minus the longest suffix, `_deliveries_recipient`. */
const MAX_TABLE_LENGTH = 63 - '_deliveries_recipient'.length;

/** MessageHandler kwargs a SimpleBusHandler takes as they are. */
const PASSED = ['url', 'table', 'limits', 'alert', 'retention', 'origins', 'max_message_bytes', 'max_filter_scans'] as const;
const OWN = ['redelivery_seconds', 'max_redeliveries', 'ping_seconds', 'uid_required', 'direct_timeout_seconds', 'files_path', 'max_file_bytes'] as const;

export const simpleBusAdapter: Adapter<SimpleBusCompiled> = {
  handler: 'SimpleBusHandler',

  compile(entry: UrlEntry, ctx: CompileContext) {
    const issues: ConfigIssue[] = [];
    const base = `${entry.path}.kwargs`;
    const issue = (sub: string, message: string): void => void issues.push({ path: `${base}${sub}`, message, file: entry.file });
    const kw = entry.kwargs ?? {};
    const known = new Set<string>([...PASSED, ...OWN]);
    for (const k of Object.keys(kw)) if (!known.has(k)) issue(`.${k}`, `unknown SimpleBusHandler key (known: ${[...known].join(', ')})`);

    const seconds = (key: string, dflt: number): number => {
      const v = kw[key];
      if (v === undefined) return dflt * 1000;
      if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v) || v > 86_400 * 365) {
        issue(`.${key}`, 'must be a positive number of seconds');
        return dflt * 1000;
      }
      return Math.max(1, Math.round(v * 1000));
    };
    const integer = (key: string, dflt: number, min: number): number => {
      const v = kw[key];
      if (v === undefined) return dflt;
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
        issue(`.${key}`, `must be an integer ≥ ${min}`);
        return dflt;
      }
      return v;
    };
    // Its own tables and indexes are named after the table (`<table>_deliveries_recipient` is the longest):
    // PostgreSQL cuts identifiers at 63 characters (two index names would then collide), MySQL refuses them.
    if (typeof kw.table === 'string' && kw.table.length > MAX_TABLE_LENGTH) {
      issue('.table', `at most ${MAX_TABLE_LENGTH} characters for a SimpleBusHandler (it names its own tables and indexes after it, e.g. <table>_deliveries_recipient)`);
    }
    const uid = kw.uid_required ?? true;
    if (typeof uid !== 'boolean') issue('.uid_required', 'must be true or false');
    let filesPath: string | null = null;
    if (kw.files_path !== undefined) {
      if (typeof kw.files_path !== 'string' || kw.files_path === '') issue('.files_path', 'must be a folder path');
      else filesPath = path.resolve(entry.yamlPath, kw.files_path);
    }
    const options: SimpleBusCompiled = {
      redeliveryMs: seconds('redelivery_seconds', 10),
      maxRedeliveries: integer('max_redeliveries', 100, 1),
      pingMs: seconds('ping_seconds', 1),
      uidRequired: uid !== false,
      directTimeoutMs: seconds('direct_timeout_seconds', 30),
      filesPath,
      maxFileBytes: integer('max_file_bytes', 1024 ** 3, 1),
      slot: { runtime: null },
    };

    // The MessageHandler under it: fixed columns, direct messages on, no socket history.
    const mh: Record<string, unknown> = { columns: columnSpecs(), direct: true, history_limit: 0 };
    for (const k of PASSED) if (kw[k] !== undefined) mh[k] = kw[k];
    const r = compileMessageHandler({ ...entry, kwargs: mh }, ctx);
    issues.push(...r.issues);
    if (issues.length || !r.config) return { issues };
    const slot = options.slot;
    const runtime = (): SimpleBusRuntime => {
      if (!slot.runtime) throw new Error('SimpleBusHandler is not mounted');
      return slot.runtime;
    };
    const route = routeMessage(() => runtime().users);
    r.config.prepare = (scope) => route(scope as { msg: Record<string, unknown>; handler: ExprHandler });
    r.config.extraRows = (values, event) => runtime().deliveries.rowsFor(values, event);
    const compiled: CompiledAdapter<SimpleBusCompiled> = { config: r.config, options };
    return { compiled, issues };
  },

  async mount(host: AdapterHost, compiled: CompiledAdapter<SimpleBusCompiled>): Promise<MountedAdapter> {
    const options = compiled.options;
    const codec = simpleBusCodec({ uidRequired: options.uidRequired });
    const bus = new SimpleBusRuntime(host.handler, options, codec, host.log, answer);
    options.slot.runtime = bus;
    await bus.init();
    return {
      request: (req, res, route) => serveHttp(host, bus, req, res, route),
      upgrade(req, socket, head, route) {
        host.admit(req, route.args).then(
          (admitted) => host.upgrade(req, socket, head, admitted, openBusSocket(bus, admitted, host.log)),
          (err) => refuseUpgrade(socket, err),
        );
      },
      close: () => bus.close(),
    };
  },
};
