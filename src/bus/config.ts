/**
 * @module bus/config
 * The app-level `bus:` setting of gramex.yaml: what carries committed events between the hubs (and the nodes).
 *
 *   bus: local                                   # the default: this process only (bus/local.ts)
 *   bus: redis://:password@redis.internal:6379/0 # or rediss:// for TLS; the path is the database number
 *   bus: {url: redis://:pw@ignored/0, sentinels: [{host: s1, port: 26379}], name: mymaster}
 *
 * Checked once at load, every mistake reported with its YAML path. A message never echoes the URL: it may hold a
 * password. Building the bus (connecting) is `createBus`, at start only, so `msghub check` opens nothing.
 */
import type { ConfigIssue } from '../errors.js';
import type { Logger } from '../log.js';
import { checkKeys, isMapping, joinPath, reporter, type Report } from '../auth/report.js';
import type { Bus } from './bus.js';
import { LocalBus } from './local.js';
import { RedisBus, type RedisConnection } from './redis.js';

/** The resolved `bus:` setting. */
export type BusConfig = { readonly kind: 'local' } | { readonly kind: 'redis'; readonly redis: RedisConnection };

export const LOCAL_BUS: BusConfig = Object.freeze({ kind: 'local' });

const KEYS = ['url', 'sentinels', 'name'];
const SENTINEL_KEYS = ['host', 'port'];
const SHAPE = 'must be `local`, a redis:// or rediss:// URL, or a mapping with url (and sentinels with name)';

/**
 * Parses the `bus:` section (`ctx.path` is its YAML path). Absent: the local bus. Any issue gives the local bus
 * with the issues (the caller refuses to start on issues).
 */
export function parseBusSection(section: unknown, ctx: { path: string; file: string }): { config: BusConfig; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const report = reporter(ctx, issues);
  if (section === undefined || section === null || section === 'local') return { config: LOCAL_BUS, issues };
  let redis: RedisConnection | null = null;
  if (typeof section === 'string') {
    if (checkUrl(section, ctx.path, report, false)) redis = { url: section };
  } else if (isMapping(section)) {
    checkKeys(section, KEYS, ctx.path, report);
    redis = parseMapping(section, ctx.path, report);
  } else {
    report(ctx.path, SHAPE);
  }
  if (issues.length > 0 || !redis) return { config: LOCAL_BUS, issues };
  return { config: Object.freeze({ kind: 'redis', redis: Object.freeze(redis) }), issues };
}

function parseMapping(section: Record<string, unknown>, path: string, report: Report): RedisConnection | null {
  const { url, sentinels, name } = section;
  const hasSentinels = sentinels !== undefined && sentinels !== null;
  let ok = true;
  if (typeof url !== 'string') {
    report(joinPath(path, 'url'), 'required: a redis:// or rediss:// URL');
    ok = false;
  } else ok = checkUrl(url, joinPath(path, 'url'), report, hasSentinels);
  let list: { host: string; port: number }[] | undefined;
  if (hasSentinels) {
    list = parseSentinels(sentinels, joinPath(path, 'sentinels'), report);
    if (!list) ok = false;
    if (typeof name !== 'string' || name === '') {
      report(joinPath(path, 'name'), 'required with sentinels: the master group name');
      ok = false;
    }
  } else if (name !== undefined) {
    report(joinPath(path, 'name'), 'has no effect without sentinels');
    ok = false;
  }
  if (!ok) return null;
  return list ? { url: url as string, sentinels: list, name: name as string } : { url: url as string };
}

function parseSentinels(value: unknown, path: string, report: Report): { host: string; port: number }[] | undefined {
  if (!Array.isArray(value) || value.length === 0) {
    report(path, 'must be a non-empty list of {host, port}');
    return undefined;
  }
  const list: { host: string; port: number }[] = [];
  value.forEach((item: unknown, i) => {
    const at = joinPath(path, i);
    if (!isMapping(item)) return report(at, 'must be a mapping with host and port');
    checkKeys(item, SENTINEL_KEYS, at, report);
    const port = toPort(item.port ?? 26379);
    if (typeof item.host !== 'string' || item.host === '') report(joinPath(at, 'host'), 'required: a host name or address');
    else if (port === null) report(joinPath(at, 'port'), 'port must be an integer from 1 to 65535');
    else list.push({ host: item.host, port });
  });
  return list.length === value.length ? list : undefined;
}

/** Checks a Redis URL without ever echoing it (it may hold a password). */
function checkUrl(text: string, path: string, report: Report, sentinels: boolean): boolean {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    report(path, sentinels ? 'is not a valid URL (redis://[user:password@]host[:port][/db])' : `is not a valid URL: ${SHAPE}`);
    return false;
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    report(path, `unsupported scheme "${u.protocol.slice(0, 20)}": ${SHAPE}`);
    return false;
  }
  let ok = true;
  if (u.hostname === '') {
    report(path, 'the URL needs a host (with sentinels it is ignored: write the master name there)');
    ok = false;
  }
  if (u.port !== '' && toPort(u.port) === null) {
    report(path, 'the URL port must be an integer from 1 to 65535');
    ok = false;
  }
  if (!/^(\/(0|[1-9]\d{0,8})?)?$/.test(u.pathname)) {
    report(path, 'the URL path must be empty or a database number, e.g. /0');
    ok = false;
  }
  if (u.search !== '' || u.hash !== '') {
    report(path, 'the URL may not have a query string or fragment');
    ok = false;
  }
  try {
    decodeURIComponent(u.username);
    decodeURIComponent(u.password);
  } catch {
    report(path, 'the URL user or password has a bad %-escape');
    ok = false;
  }
  return ok;
}

function toPort(v: unknown): number | null {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535 ? n : null;
}

/** The bus a config asks for. A RedisBus starts connecting at once (and keeps retrying while Redis is down). */
export function createBus(config: BusConfig, log: Logger): Bus {
  return config.kind === 'redis' ? new RedisBus({ ...config.redis, log }) : new LocalBus();
}
