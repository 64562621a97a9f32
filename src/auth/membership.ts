/**
 * @module auth/membership
 * Gramex's `auth: {membership: …}`. One mapping is a conjunction: for every attribute it names, the user's
 * value (or, when that is a list, any of its values) must be one of the allowed values. A list of mappings is
 * a disjunction: any one of them admits the user. Values compare with `===` after YAML parsing, as Gramex
 * compares with Python sets (`1` is not `"1"`).
 */
import type { User } from '../types.js';
import { attribute } from './attribute.js';
import { isMapping, joinPath, type Report } from './report.js';

type Scalar = string | number | boolean;
/** One mapping: attribute name → allowed values. */
export type MembershipClause = ReadonlyMap<string, ReadonlySet<Scalar>>;

const isScalar = (v: unknown): v is Scalar => typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));

/** Compiles `membership:` (a mapping or a non-empty list of mappings); null after reporting a problem. */
export function compileMembership(value: unknown, at: string, report: Report): readonly MembershipClause[] | null {
  const entries = Array.isArray(value) ? value : [value];
  if (entries.length === 0) {
    report(at, 'must be a mapping of attribute → allowed values, or a non-empty list of such mappings');
    return null;
  }
  const clauses: MembershipClause[] = [];
  entries.forEach((entry, i) => {
    const clause = compileClause(entry, Array.isArray(value) ? joinPath(at, i) : at, report);
    if (clause) clauses.push(clause);
  });
  return clauses.length === entries.length ? clauses : null;
}

function compileClause(entry: unknown, at: string, report: Report): MembershipClause | null {
  if (!isMapping(entry) || Object.keys(entry).length === 0) {
    report(at, 'must be a non-empty mapping of attribute → allowed values, e.g. {role: [admin, editor]}');
    return null;
  }
  const clause = new Map<string, ReadonlySet<Scalar>>();
  let ok = true;
  for (const [attr, allowed] of Object.entries(entry)) {
    const list = Array.isArray(allowed) ? allowed : [allowed];
    if (list.length === 0 || !list.every(isScalar)) {
      report(joinPath(at, attr), 'must be a value or a non-empty list of strings, numbers or booleans');
      ok = false;
    } else clause.set(attr, new Set(list));
  }
  return ok ? clause : null;
}

/** True when `user` satisfies any clause. */
export function isMember(clauses: readonly MembershipClause[], user: User): boolean {
  return clauses.some((clause) => {
    for (const [attr, allowed] of clause) {
      const value = attribute(user, attr);
      const values = Array.isArray(value) ? value : [value];
      if (!values.some((v) => isScalar(v) && allowed.has(v))) return false;
    }
    return true;
  });
}
