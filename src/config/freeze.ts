/**
 * @module config/freeze
 * Deep-freezing of loaded configuration, so no module can change the config another module relies on.
 */

/** True for `{}` literals and `Object.create(null)` maps: the only objects config loading copies and freezes. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Freezes plain objects and arrays recursively and returns the same value. Other objects (functions, class
 * instances, Dates, Buffers an embedding app passes in) are left alone: they belong to the caller, and
 * freezing them would break code we do not own.
 */
export function deepFreeze<T>(value: T): T {
  if (Array.isArray(value) || isPlainObject(value)) {
    if (Object.isFrozen(value)) return value;
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}
