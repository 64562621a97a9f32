/**
 * @module auth/token
 * Finds the bearer token of a request in the configured places, in a fixed order: `Authorization: Bearer`,
 * then the cookie, then the query parameter (browsers cannot set headers on a WebSocket, so the query is the
 * usual way in from a page). Only the first token found is used; a bad one is not skipped in favour of another.
 */
import type { IncomingMessage } from 'node:http';
import type { TokenSources } from './config.js';
import { cookieValues } from './cookies.js';

/** Where a token was found. */
export type TokenSource = 'header' | 'cookie' | 'query';

/** The request's token and where it came from, or null when it carries none. An empty token is returned as ''. */
export function extractToken(req: IncomingMessage, sources: TokenSources): { token: string; source: TokenSource } | null {
  if (sources.header) {
    const auth = req.headers.authorization;
    // Other schemes (Basic for a proxy in front of us) are not ours to judge.
    const m = auth === undefined ? null : /^bearer(?:\s+(.*))?$/is.exec(auth.trim());
    if (m) return { token: (m[1] ?? '').trim(), source: 'header' };
  }
  if (sources.cookie !== null) {
    const [value] = cookieValues(req, sources.cookie);
    if (value !== undefined && value !== '') return { token: value, source: 'cookie' };
  }
  if (sources.query !== null) {
    const value = new URL(req.url ?? '/', 'http://localhost').searchParams.get(sources.query);
    if (value !== null) return { token: value, source: 'query' };
  }
  return null;
}
