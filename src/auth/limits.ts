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
  /** A connection over its rate for this many seconds is closed with 4429. */
  readonly close_after_seconds: number;
  /** A connection refused this many times while over its rate is closed with 4429. */
  readonly close_after_refusals: number;
}

export const LIMIT_DEFAULTS: Limits = Object.freeze({
  messages_per_second: 50,
  burst: 100,
  max_connections: 10_000,
  max_connections_per_ip: 100,
  close_after_seconds: 10,
  close_after_refusals: 100,
});

/** Which keys must be whole numbers, and the smallest value each accepts. */
const RULES: Readonly<Record<keyof Limits, { integer: boolean; min: number; exclusive?: boolean }>> = {
  messages_per_second: { integer: false, min: 0 },
  burst: { integer: true, min: 1 },
  max_connections: { integer: true, min: 0 },
  max_connections_per_ip: { integer: true, min: 0 },
  close_after_seconds: { integer: false, min: 0, exclusive: true },
  close_after_refusals: { integer: true, min: 1 },
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
