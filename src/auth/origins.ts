/**
 * @module auth/origins
 * Which web pages may open a socket or call the HTTP endpoints. Browsers attach cookies (and a cookie token)
 * to a WebSocket handshake whatever page starts it, and WebSockets are not subject to CORS, so without this
 * check any site could open a socket as its visitor. Browsers always send `Origin` on a WebSocket handshake
 * and on cross-site requests; clients that send none (servers, curl, test clients) are not browsers riding
 * someone's cookies, and pass.
 */
import type { IncomingMessage } from 'node:http';
import type { ConfigIssue } from '../errors.js';
import { joinPath, reporter, type SectionContext } from './report.js';

/** Decides whether a request's `Origin` is allowed. */
export type OriginCheck = (req: IncomingMessage) => boolean;

interface Pattern {
  readonly protocol: string;
  /** Exact host, or the suffix after `*.` (which then matches any depth of subdomain, never the bare domain). */
  readonly host: string;
  readonly wildcard: boolean;
  /** '' for the scheme's default port. */
  readonly port: string;
}

const WILDCARD_LABEL = 'msghub-wildcard';

/**
 * Compiles a handler's `origins:`. Absent: same host only (the Origin's host:port equals the `Host` header).
 * Otherwise a string or list of: exact origins (`https://app.example.com`), wildcard subdomains
 * (`https://*.example.com`), `self` (the same-host rule) or `*` (any page; say so explicitly).
 */
export function compileOrigins(origins: unknown, ctx: SectionContext): { check: OriginCheck; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const report = reporter(ctx, issues);
  if (origins === undefined || origins === null) return { check: (req) => allowed(req, [], true, false), issues };
  const list = typeof origins === 'string' ? [origins] : origins;
  if (!Array.isArray(list) || list.length === 0) {
    report(ctx.path, 'must be an origin or a non-empty list of origins (https://app.example.com, https://*.example.com, self, *)');
    return { check: () => false, issues };
  }
  const patterns: Pattern[] = [];
  let self = false;
  let any = false;
  list.forEach((entry: unknown, i: number) => {
    const at = typeof origins === 'string' ? ctx.path : joinPath(ctx.path, i);
    if (entry === '*') any = true;
    else if (entry === 'self') self = true;
    else {
      const pattern = typeof entry === 'string' ? parsePattern(entry) : null;
      if (pattern) patterns.push(pattern);
      else report(at, `${JSON.stringify(entry)} is not an origin: write scheme://host[:port] with no path, e.g. https://app.example.com or https://*.example.com`);
    }
  });
  // A config with mistakes must not start; until it is fixed, refuse rather than guess.
  if (issues.length > 0) return { check: () => false, issues };
  return { check: (req) => allowed(req, patterns, self, any), issues };
}

function allowed(req: IncomingMessage, patterns: readonly Pattern[], self: boolean, any: boolean): boolean {
  const header = req.headers.origin;
  if (header === undefined) return true;
  if (any) return true;
  const origin = parseOrigin(header);
  if (origin === null) return false; // `null` (sandboxed frames, file://) and garbage are never same-site
  if (self && sameHost(origin, req.headers.host)) return true;
  return patterns.some(
    (p) =>
      p.protocol === origin.protocol &&
      p.port === origin.port &&
      (p.wildcard ? origin.hostname.endsWith('.' + p.host) : origin.hostname === p.host),
  );
}

/**
 * Tornado's rule: the Origin's host:port is the Host the request was sent to (default ports by the Origin's scheme,
 * so a TLS proxy needs no `X-Forwarded-Proto`). Behind a proxy this is the `Host` the proxy passes on.
 * `X-Forwarded-Host` is never read, even from a trusted proxy (`trust_proxy:`): proxies such as nginx pass a
 * client's own copy through unless told to overwrite it, and then the request would choose what it is compared with.
 */
function sameHost(origin: URL, host: string | undefined): boolean {
  if (!host) return false;
  let target: URL;
  try {
    target = new URL(`${origin.protocol}//${host}`);
  } catch {
    return false;
  }
  return target.host === origin.host && target.pathname === '/' && target.username === '' && target.password === '';
}

function parseOrigin(value: string): URL | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  // A serialized origin is scheme://host[:port] and nothing else; anything more is not a browser's Origin.
  if (url.host === '' || url.origin === 'null') return null;
  return url.username || url.password || url.search || url.hash || url.pathname !== '/' ? null : url;
}

function parsePattern(entry: string): Pattern | null {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)(\*\.)?(.*)$/i.exec(entry);
  if (!m) return null;
  const wildcard = m[2] !== undefined;
  const url = parseOrigin(m[1]! + (wildcard ? `${WILDCARD_LABEL}.` : '') + m[3]!);
  if (url === null || url.hostname.includes('*')) return null;
  let host = url.hostname;
  if (wildcard) {
    if (!host.startsWith(`${WILDCARD_LABEL}.`)) return null;
    host = host.slice(WILDCARD_LABEL.length + 1);
    if (!host.includes('.') && host !== 'localhost') return null; // `*.com` would admit the whole TLD
  }
  return { protocol: url.protocol, host, wildcard, port: url.port };
}
