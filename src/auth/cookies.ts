/**
 * @module auth/cookies
 * Reads cookies from a request. Every value of a name is returned, in header order: a sibling subdomain can set
 * a cookie with our name (cookie tossing), and callers then take the first one that verifies rather than
 * trusting whichever came first.
 */
import type { IncomingMessage } from 'node:http';

/** All values of cookie `name` sent with `req` (surrounding double quotes removed). */
export function cookieValues(req: IncomingMessage, name: string): string[] {
  const header = req.headers.cookie;
  if (!header) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    values.push(value);
  }
  return values;
}
