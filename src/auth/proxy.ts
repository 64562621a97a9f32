/**
 * @module auth/proxy
 * `trust_proxy:` (app level): which hops in front of msghub may say who the client is. Behind nginx every TCP
 * peer is nginx; the client's own address is in `X-Forwarded-For`, which any client can also write. So the
 * header is read only as far back as the hops are trusted, exactly as Express's `trust proxy` does it, with the
 * well-kept `proxy-addr` deciding which hop is trusted (address ranges, IPv4-mapped IPv6 and all).
 *
 * The address decided here is the one every per-address control and expression sees: connection caps, HTTP
 * rate limits and read caps, `handler.request.ip`. `Forwarded` (RFC 7239) and `X-Forwarded-Host` are not read:
 * the origin check compares with `Host`, which the proxy must pass (docs/security.md says why).
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import proxyaddr from 'proxy-addr';
import { SERVER_DEFAULTS } from '../config/defaults.js';
import type { ConfigIssue } from '../errors.js';
import { joinPath, reporter, type SectionContext } from './report.js';

/**
 * Whether the hop at `addr`, `hop` hops from msghub (0 is the TCP peer, 1 the last `X-Forwarded-For` entry…),
 * is a proxy whose word about the hop before it is believed. proxy-addr's trust function.
 */
export type TrustProxy = (addr: string, hop: number) => boolean;

/** The names proxy-addr knows, each a set of ranges. */
export const TRUST_NAMES: readonly string[] = Object.freeze(['loopback', 'linklocal', 'uniquelocal']);
/**
 * Most `X-Forwarded-For` entries ever read, and so the most hops `trust_proxy` may count. Real chains are one to
 * three proxies long; the bound keeps a header of thousands of entries from costing more than a few.
 */
export const MAX_FORWARDED_HOPS = 32;
/**
 * Most characters read from the end of `X-Forwarded-For` (what a client wrote comes first, what the trusted
 * proxies appended comes last, so the end is the part that counts). 32 entries of the longest address fit.
 */
export const MAX_FORWARDED_CHARS = MAX_FORWARDED_HOPS * 48;
/** The longest textual IP address (an IPv6 address with an IPv4 tail): longer entries are garbage unread. */
const MAX_ADDRESS_CHARS = 45;
const MAPPED_IPV4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;
const HELP = 'false, a number of proxies, or a list of proxy addresses, CIDR ranges and the names loopback, linklocal, uniquelocal';

/**
 * Compiles `trust_proxy:`. Absent, null, `false` (also as text) or `0`: nobody is trusted and `X-Forwarded-For` is never read
 * (the default, and the only safe setting without a proxy: any client can send the header). A number `n`
 * (1–32, also as a decimal string, so `trust_proxy: $TRUST_PROXY` works): the `n` hops nearest msghub are
 * proxies. A string or a list: the proxies' addresses, `addr/bits` or `addr/netmask` ranges and the names
 * `loopback`, `linklocal`, `uniquelocal` (a string may list several, comma-separated). `true` (Express's
 * "trust every hop") is refused: it lets every client choose its own address. Returns null with the issues,
 * each at its YAML path, when the value is wrong.
 */
export function parseTrustProxy(value: unknown, ctx: SectionContext): { trust: TrustProxy | null; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const report = reporter(ctx, issues);
  const fail = (path: string, message: string): { trust: null; issues: ConfigIssue[] } => {
    report(path, message);
    return { trust: null, issues };
  };
  value ??= SERVER_DEFAULTS.trust_proxy;
  // `trust_proxy: $TRUST_PROXY` expands to text: "false" and "2" mean what they say.
  if (value === false || value === 'false') return { trust: null, issues };
  if (value === true) {
    return fail(ctx.path, `true would believe every hop, so any client could choose its own address; give ${HELP}`);
  }
  const hops = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value.trim()) : value;
  if (typeof hops === 'number') {
    if (!Number.isInteger(hops) || hops < 0 || hops > MAX_FORWARDED_HOPS) {
      return fail(ctx.path, `a number of proxies must be an integer from 0 to ${MAX_FORWARDED_HOPS}`);
    }
    return { trust: hops === 0 ? null : (_addr, hop) => hop < hops, issues };
  }
  let entries: { text: unknown; path: string }[];
  if (typeof value === 'string') entries = value.split(',').map((text) => ({ text: text.trim(), path: ctx.path }));
  else if (Array.isArray(value)) entries = value.map((text: unknown, i) => ({ text: typeof text === 'string' ? text.trim() : text, path: joinPath(ctx.path, i) }));
  else return fail(ctx.path, `must be ${HELP}`);
  if (entries.length === 0) return fail(ctx.path, `an empty list trusts nobody: write false, or give ${HELP}`);
  for (const { text, path } of entries) {
    const problem = checkEntry(text);
    if (problem) report(path, problem);
  }
  if (issues.length > 0) return { trust: null, issues };
  return { trust: proxyaddr.compile(entries.map((e) => e.text as string)), issues };
}

/** Why one list entry is not a proxy address, range or name; null when it is one. */
function checkEntry(text: unknown): string | null {
  if (typeof text !== 'string' || text === '') return `${JSON.stringify(text) ?? String(text)} is not a proxy address: give ${HELP}`;
  if (TRUST_NAMES.includes(text)) return null;
  const slash = text.lastIndexOf('/');
  // proxy-addr alone would take `10` or `0x7f.1` as an address (ipaddr.js reads those forms): a typo must not
  // trust a range nobody meant, so the address part must be plainly written.
  if (isIP(slash < 0 ? text : text.slice(0, slash)) === 0) return `${JSON.stringify(text)} is not an IP address, a CIDR range or one of ${TRUST_NAMES.join(', ')}`;
  try {
    proxyaddr.compile(text);
  } catch (err) {
    return `${JSON.stringify(text)}: ${(err as Error).message}`;
  }
  return null;
}

/** The TCP peer's address, without the IPv4-mapped IPv6 prefix; '' when the socket is already gone. */
export function socketIp(req: IncomingMessage): string {
  return (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
}

/**
 * The client's address: the TCP peer, or, while the peer and the hops before it are trusted, the `X-Forwarded-For`
 * entry each of them names, read from the right (the end is what the nearest proxy appended). It stops at the
 * first hop that is not trusted: that hop is the client, whatever the entries before it claim. Garbage ends the
 * walk too (an entry that is not a plain IP address, an over-long one, one cut off by the length bound): the last
 * hop that gave a real address is the client then, so a header no one can read never yields a made-up key.
 * At most {@link MAX_FORWARDED_HOPS} entries and the last {@link MAX_FORWARDED_CHARS} characters are read.
 */
export function forwardedIp(req: IncomingMessage, trust: TrustProxy): string {
  const peer = req.socket.remoteAddress ?? '';
  const header = req.headers['x-forwarded-for'];
  if (typeof header !== 'string' || peer === '' || !trust(peer, 0)) return socketIp(req);
  // Duplicate headers arrive joined with ", " by Node, in order, which is how proxies append too.
  const cut = header.length > MAX_FORWARDED_CHARS;
  const text = cut ? header.slice(header.length - MAX_FORWARDED_CHARS) : header;
  let client = socketIp(req);
  let end = text.length;
  let hop = 0;
  while (end > 0 && hop < MAX_FORWARDED_HOPS) {
    const comma = text.lastIndexOf(',', end - 1);
    // The first entry of a header cut to its end is a fragment (`…2.3.4` of `1.2.3.4`): never an address.
    if (comma < 0 && cut) break;
    const entry = text.slice(comma + 1, end).trim();
    end = comma < 0 ? 0 : comma;
    if (entry === '') continue; // `a,,b`: empty entries are skipped, as proxy-addr does
    const addr = entry.length <= MAX_ADDRESS_CHARS ? canonicalIp(entry) : null;
    if (addr === null) break;
    client = addr;
    hop++;
    if (!trust(addr, hop)) break;
  }
  return client;
}

/**
 * One spelling per address, so one client cannot hold several per-address buckets: IPv4 as written (Node's
 * `isIP` admits only plain dotted quads), IPv4-mapped IPv6 as IPv4, IPv6 compressed and lower-case (RFC 5952,
 * as the WHATWG URL parser writes it). Null for anything else, zone indexes (`fe80::1%eth0`) included.
 */
function canonicalIp(text: string): string | null {
  const mapped = MAPPED_IPV4.exec(text);
  const candidate = mapped ? mapped[1]! : text;
  const kind = isIP(candidate);
  if (kind === 4) return candidate;
  if (kind !== 6 || candidate.includes('%')) return null;
  try {
    return new URL(`http://[${candidate}]/`).hostname.slice(1, -1);
  } catch {
    return null;
  }
}
