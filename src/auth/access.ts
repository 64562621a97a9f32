/**
 * @module auth/access
 * Handler permissions, Gramex-style (`kwargs.auth`): `true` requires a login; `membership:` and `condition:`
 * require a login and then restrict who. Compiled once at load; checked at every handshake and HTTP request.
 * Refusals follow Gramex: anonymous → 401 (MH_ERR_AUTH_REQUIRED), logged in but not allowed → 403
 * (MH_ERR_AUTH_FORBIDDEN).
 */
import type { ConfigIssue } from '../errors.js';
import { MhError } from '../errors.js';
import { compileExpression, type CompiledExpr } from '../expr/index.js';
import type { User } from '../types.js';
import { compileMembership, isMember, type MembershipClause } from './membership.js';
import { checkKeys, isMapping, joinPath, reporter } from './report.js';
import { syncOnlyModules } from './sync-modules.js';

/** What the condition sees of the request (and `checkAccess` needs of it). */
export interface AccessRequest {
  /** Client address as the socket reports it. */
  ip: string;
  /** Request headers, names lower-case. */
  headers: Record<string, string>;
}

/** A compiled `auth:`. Having a rule at all means a login is required. */
export interface AccessRule {
  /** YAML path of the `auth:` it came from. */
  readonly path: string;
  /** Any clause admits; null = no membership check. */
  readonly membership: readonly MembershipClause[] | null;
  /** Must return a truthy value; null = no condition. */
  readonly condition: CompiledExpr | null;
}

/** Names a condition may read: the user, the request, and Gramex's `handler.current_user` spelling. */
export const CONDITION_NAMES = ['user', 'request', 'handler'] as const;

const RULE_KEYS = ['membership', 'condition'];

/**
 * Compiles a handler's `auth:` kwarg. Absent or `false` → no rule (public). `ctx.path` is the kwarg's YAML path
 * (e.g. `url.chat.kwargs.auth`); `ctx.modules` the app's `modules:`, callable from the condition.
 */
export function compileAccessRule(
  auth: unknown,
  ctx: { path: string; file: string; modules: Readonly<Record<string, Readonly<Record<string, unknown>>>> },
): { rule: AccessRule | null; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const report = reporter(ctx, issues);
  if (auth === undefined || auth === null || auth === false) return { rule: null, issues };
  if (auth === true) return { rule: Object.freeze({ path: ctx.path, membership: null, condition: null }), issues };
  if (!isMapping(auth)) {
    report(ctx.path, 'must be true, or a mapping with membership: and/or condition:');
    return { rule: null, issues };
  }
  checkKeys(auth, RULE_KEYS, ctx.path, report);
  const membership = auth.membership == null ? null : compileMembership(auth.membership, joinPath(ctx.path, 'membership'), report);
  const condition = auth.condition == null ? null : compileCondition(auth.condition, joinPath(ctx.path, 'condition'), ctx.modules, report);
  if (issues.length > 0) return { rule: null, issues };
  return { rule: Object.freeze({ path: ctx.path, membership, condition }), issues };
}

function compileCondition(
  value: unknown,
  at: string,
  modules: Readonly<Record<string, Readonly<Record<string, unknown>>>>,
  report: (path: string, message: string) => void,
): CompiledExpr | null {
  // Gramex writes `condition: {function: <expression>}`; the bare expression is the short form.
  let source = value;
  let path = at;
  if (isMapping(value)) {
    checkKeys(value, ['function'], at, report);
    source = value.function;
    path = joinPath(at, 'function');
  }
  if (typeof source !== 'string' || source.trim() === '') {
    report(path, 'must be an expression, e.g. user.role == "admin"');
    return null;
  }
  const asyncCalls: string[] = [];
  let compiled: CompiledExpr;
  try {
    compiled = compileExpression(source, {
      path,
      names: CONDITION_NAMES,
      writable: [],
      modules: syncOnlyModules(modules, (label) => asyncCalls.push(label)),
    });
  } catch (err) {
    report((err as MhError).path ?? path, (err as Error).message);
    return null;
  }
  for (const label of asyncCalls) {
    report(path, `calls ${label}(), an async function; access conditions must answer synchronously (the handshake cannot wait)`);
  }
  return asyncCalls.length === 0 ? compiled : null;
}

/**
 * Decides one request. null = allowed; MH_ERR_AUTH_REQUIRED (401/4401) when anonymous and the rule needs a
 * login; MH_ERR_AUTH_FORBIDDEN (403/4403) when membership or the condition is not met. A condition that throws
 * denies access (the error is kept as `cause` for the log), so a bug in a rule fails closed.
 */
export function checkAccess(rule: AccessRule | null, user: User | null, request: AccessRequest): MhError | null {
  if (rule === null) return null;
  if (user === null) return new MhError('MH_ERR_AUTH_REQUIRED');
  if (rule.membership !== null && !isMember(rule.membership, user)) {
    return new MhError('MH_ERR_AUTH_FORBIDDEN', ['membership not met']);
  }
  if (rule.condition !== null) {
    let ok: unknown;
    try {
      ok = rule.condition({ user, request, handler: { current_user: user, request } });
    } catch (err) {
      return new MhError('MH_ERR_AUTH_FORBIDDEN', ['condition not met'], { cause: err });
    }
    if (ok instanceof Promise) {
      // Unreachable with syncOnlyModules; kept so a future async path can never admit by accident.
      ok.catch(() => undefined);
      return new MhError('MH_ERR_AUTH_FORBIDDEN', ['condition not met'], { cause: new Error(`${rule.path}: condition did not answer synchronously`) });
    }
    if (!ok) return new MhError('MH_ERR_AUTH_FORBIDDEN', ['condition not met']);
  }
  return null;
}
