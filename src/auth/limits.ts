/**
 * @module auth/limits
 * A handler's abuse limits (`kwargs.limits`), with every default in one object. `0` turns a limit off. The
 * defaults are generous for people (a chat user sends a few messages a minute) and tight enough that one
 * script cannot monopolise a handler.
 */
import type { ConfigIssue } from '../errors.js';
import { checkKeys, isMapping, joinPath, reporter, type SectionContext } from './report.js';

export interface Limits {
  /** Sustained frames per second per connection (token bucket refill rate). 0: unlimited. */
  readonly messages_per_second: number;
  /** Frames a connection may send at once before the rate applies (bucket size). */
  readonly burst: number;
  /** Open connections per handler. 0: unlimited. */
  readonly max_connections: number;
  /** Open connections per handler from one client address. 0: unlimited. */
  readonly max_connections_per_ip: number;
  /**
   * HTTP history reads (GET) running at once per handler from one client address; more are refused with
   * MH_ERR_TOO_MANY_CONNECTIONS (429). Each holds a database snapshot and a page of rows while its client reads.
   * 0: unlimited.
   */
  readonly max_reads_per_ip: number;
  /** A connection over its rate for this many seconds is closed with 4429. */
  readonly close_after_seconds: number;
  /** A connection refused this many times while over its rate is closed with 4429. */
  readonly close_after_refusals: number;
  /**
   * Messages accepted and not yet committed (in the pipeline or waiting for the database), per handler. Past it,
   * new messages are refused with MH_ERR_OVERLOADED (503) until commits catch up. 0: unbounded.
   */
  readonly max_queued_messages: number;
  /** The same bound on those messages' frame or body bytes (16 MiB). 0: unbounded. */
  readonly max_queued_bytes: number;
}

export const LIMIT_DEFAULTS: Limits = Object.freeze({
  messages_per_second: 50,
  burst: 100,
  max_connections: 10_000,
  max_connections_per_ip: 100,
  max_reads_per_ip: 16,
  close_after_seconds: 10,
  close_after_refusals: 100,
  max_queued_messages: 10_000,
  max_queued_bytes: 16 * 1024 * 1024,
});

/** Which keys must be whole numbers, and the smallest value each accepts. */
const RULES: Readonly<Record<keyof Limits, { integer: boolean; min: number; exclusive?: boolean }>> = {
  messages_per_second: { integer: false, min: 0 },
  burst: { integer: true, min: 1 },
  max_connections: { integer: true, min: 0 },
  max_connections_per_ip: { integer: true, min: 0 },
  max_reads_per_ip: { integer: true, min: 0 },
  close_after_seconds: { integer: false, min: 0, exclusive: true },
  close_after_refusals: { integer: true, min: 1 },
  max_queued_messages: { integer: true, min: 0 },
  max_queued_bytes: { integer: true, min: 0 },
};

/** Parses `limits:` over LIMIT_DEFAULTS. Absent → the defaults. Bad values are reported and left at default. */
export function parseLimits(value: unknown, ctx: SectionContext): { limits: Limits; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  if (value === undefined || value === null) return { limits: LIMIT_DEFAULTS, issues };
  const report = reporter(ctx, issues);
  if (!isMapping(value)) {
    report(ctx.path, `must be a mapping with ${Object.keys(RULES).join(', ')}`);
    return { limits: LIMIT_DEFAULTS, issues };
  }
  checkKeys(value, Object.keys(RULES), ctx.path, report);
  const limits: Record<string, number> = { ...LIMIT_DEFAULTS };
  for (const [key, rule] of Object.entries(RULES)) {
    const v = value[key];
    if (v === undefined) continue;
    const ok = typeof v === 'number' && Number.isFinite(v) && (rule.integer ? Number.isSafeInteger(v) : true) && (rule.exclusive ? v > rule.min : v >= rule.min);
    if (ok) limits[key] = v;
    else report(joinPath(ctx.path, key), `must be a ${rule.integer ? 'whole ' : ''}number ${rule.exclusive ? '>' : '≥'} ${rule.min}`);
  }
  return { limits: Object.freeze(limits) as unknown as Limits, issues };
}
