/**
 * @module compat/texto/uuid
 * UUIDs as Texto (Go, satori/go.uuid v1.1.0) reads them from JSON: the canonical 36-character form with dashes,
 * also wrapped in `{…}` or prefixed with `urn:uuid:`, hex in either case, version digit 0–5. A missing key or a
 * JSON null is the nil UUID. Everything leaves here in the canonical lowercase form, as Texto writes it.
 */

/** The nil UUID: what Texto reads for a missing or null UUID field. */
export const NIL_UUID = '00000000-0000-0000-0000-000000000000';

const CANONICAL = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-5][0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/**
 * The canonical lowercase form of a UUID field's JSON value, or null when Texto would refuse it (a non-string, a
 * malformed string). `undefined` and `null` give the nil UUID.
 */
export function readUuid(value: unknown): string | null {
  if (value === undefined || value === null) return NIL_UUID;
  if (typeof value !== 'string' || value.length > 45) return null;
  let s = value;
  if (s.startsWith('urn:uuid:')) s = s.slice(9);
  else if (s.startsWith('{')) {
    if (!s.endsWith('}')) return null;
    s = s.slice(1, -1);
  }
  return CANONICAL.test(s) ? s.toLowerCase() : null;
}

/** Whether `s` is a canonical UUIDv4 (what the server issues and what Texto's demo client checks recipients by). */
export function isUuidV4(s: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(s);
}
