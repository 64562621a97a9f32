/**
 * @module auth/attribute
 * Reads a user attribute or token claim by name. Identity providers nest what matters (Keycloak puts roles in
 * `realm_access.roles`), so a dotted name walks into objects; a key that literally contains the dot wins.
 * Only own properties are read, so `constructor` or `__proto__` never reach the prototype.
 */

/** The value of `name` in `obj`: an own key, else a dotted path of own keys; undefined when absent. */
export function attribute(obj: unknown, name: string): unknown {
  if (!isRecord(obj)) return undefined;
  if (Object.hasOwn(obj, name)) return obj[name];
  if (!name.includes('.')) return undefined;
  let cur: unknown = obj;
  for (const step of name.split('.')) {
    if (!isRecord(cur) || !Object.hasOwn(cur, step)) return undefined;
    cur = cur[step];
  }
  return cur;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
