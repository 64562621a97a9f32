/**
 * @module alert/services
 * The app-level `email:` section: named mail services that alerts send through. Each entry resolves, once at
 * load, to the transport options nodemailer needs (or a stub file path), so a typo in a host or port fails at
 * start-up with its YAML path instead of on the first alert.
 */
import path from 'node:path';
import type { ConfigIssue } from '../errors.js';

/** A resolved `email:` entry. Frozen; `createMailer()` turns it into a transport. */
export interface EmailService {
  readonly name: string;
  /** `smtp`, `smtps`, `stub` or a preset name (e.g. `gmail`), as written (lower-cased). */
  readonly type: string;
  readonly host?: string;
  readonly port?: number;
  /** TLS from the first byte (port 465 style). False means plain SMTP, upgraded by STARTTLS when offered. */
  readonly secure?: boolean;
  /** Gramex `tls: true`: refuse to send unless STARTTLS succeeds. */
  readonly requireTLS?: boolean;
  /** Gramex `tls: false`: never try STARTTLS. */
  readonly ignoreTLS?: boolean;
  readonly auth?: { readonly user: string; readonly pass: string };
  /** Default sender when an alert has no `from:` (falls back to `auth.user`). */
  readonly from?: string;
  /** `type: stub` only: absolute path of the JSON-lines file mail is appended to. */
  readonly path?: string;
}

interface Preset {
  host: string;
  port: number;
  secure: boolean;
}

/**
 * Well-known providers. `type: <preset>` fills host, port and secure; explicit keys still win, so a preset is
 * never a trap when a provider changes a port. Names follow Gramex (`live`, `mail.com`) plus common aliases.
 */
export const EMAIL_PRESETS: Readonly<Record<string, Preset>> = Object.freeze({
  gmail: { host: 'smtp.gmail.com', port: 465, secure: true },
  office365: { host: 'smtp.office365.com', port: 587, secure: false },
  outlook: { host: 'smtp-mail.outlook.com', port: 587, secure: false },
  live: { host: 'smtp-mail.outlook.com', port: 587, secure: false },
  hotmail: { host: 'smtp-mail.outlook.com', port: 587, secure: false },
  yahoo: { host: 'smtp.mail.yahoo.com', port: 465, secure: true },
  icloud: { host: 'smtp.mail.me.com', port: 587, secure: false },
  'mail.com': { host: 'smtp.mail.com', port: 587, secure: false },
  zoho: { host: 'smtp.zoho.com', port: 465, secure: true },
  fastmail: { host: 'smtp.fastmail.com', port: 465, secure: true },
  mandrill: { host: 'smtp.mandrillapp.com', port: 587, secure: false },
  sendgrid: { host: 'smtp.sendgrid.net', port: 587, secure: false },
  mailgun: { host: 'smtp.mailgun.org', port: 465, secure: true },
});

/** Defaults for the generic types: submission port with STARTTLS, or implicit TLS on 465. */
const GENERIC: Readonly<Record<string, Omit<Preset, 'host'>>> = {
  smtp: { port: 587, secure: false },
  smtps: { port: 465, secure: true },
};
const TYPES_HINT = `smtp, smtps, stub or one of ${Object.keys(EMAIL_PRESETS).join(', ')}`;

/** Where a stub service writes when it names no `path:` (relative to the YAML folder). */
export const DEFAULT_STUB_PATH = 'msghub-mail.jsonl';

const SERVICE_KEYS = new Set(['type', 'host', 'port', 'secure', 'tls', 'auth', 'from', 'path', 'email', 'password', 'stub']);
const AUTH_KEYS = new Set(['user', 'password']);

/** Context of the section being parsed: its YAML path (e.g. `email`), source file and folder. */
export interface ServicesContext {
  path: string;
  file: string;
  yamlPath: string;
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses the app's `email:` section. Every problem is reported (not just the first); entries with problems are
 * left out of `services`. An absent section yields no services and no issues.
 */
export function parseEmailServices(
  section: unknown,
  ctx: ServicesContext,
): { services: Map<string, EmailService>; issues: ConfigIssue[] } {
  const services = new Map<string, EmailService>();
  const issues: ConfigIssue[] = [];
  if (section === undefined || section === null) return { services, issues };
  if (!isMapping(section)) {
    issues.push({ path: ctx.path, file: ctx.file, message: 'must be a mapping of service name → settings' });
    return { services, issues };
  }
  for (const [name, entry] of Object.entries(section)) {
    const found: ConfigIssue[] = [];
    const report = (key: string | null, message: string): void => {
      found.push({ path: key ? `${ctx.path}.${name}.${key}` : `${ctx.path}.${name}`, file: ctx.file, message });
    };
    const service = parseService(name, entry, ctx.yamlPath, report);
    issues.push(...found);
    if (service && found.length === 0) services.set(name, Object.freeze(service));
  }
  return { services, issues };
}

type Report = (key: string | null, message: string) => void;

function parseService(name: string, entry: unknown, yamlPath: string, report: Report): EmailService | null {
  if (!isMapping(entry)) {
    report(null, 'must be a mapping with at least `type:`');
    return null;
  }
  for (const key of Object.keys(entry)) {
    if (!SERVICE_KEYS.has(key)) report(key, `unknown key; expected one of ${[...SERVICE_KEYS].join(', ')}`);
  }
  const str = (key: string): string | undefined => {
    const v = entry[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || v === '') report(key, 'must be a non-empty string');
    return typeof v === 'string' && v !== '' ? v : undefined;
  };

  // Gramex's `stub: log | true` turns any service into a stub; `type: stub` is the explicit form.
  const stubFlag = entry.stub;
  if (stubFlag !== undefined && stubFlag !== false && stubFlag !== true && stubFlag !== 'log') {
    report('stub', 'must be true, false or "log"');
  }
  const rawType = str('type');
  if (rawType === undefined && !stubFlag) report('type', `is required: ${TYPES_HINT}`);
  const type = stubFlag === true || stubFlag === 'log' ? 'stub' : (rawType ?? 'smtp').toLowerCase();
  const email = str('email');
  const from = str('from') ?? email;

  if (type === 'stub') {
    const file = str('path') ?? DEFAULT_STUB_PATH;
    return { name, type, from, path: path.resolve(yamlPath, file) };
  }
  if (entry.path !== undefined) report('path', 'is only used by `type: stub`');

  const base = EMAIL_PRESETS[type] ?? GENERIC[type];
  if (!base) {
    report('type', `unknown type "${type}"; expected ${TYPES_HINT}`);
    return null;
  }
  const host = str('host') ?? (base as Partial<Preset>).host;
  if (!host) report('host', `is required for type ${type}`);

  let port = base.port;
  if (entry.port !== undefined) {
    const p = typeof entry.port === 'string' && /^\d+$/.test(entry.port) ? Number(entry.port) : entry.port;
    if (typeof p === 'number' && Number.isInteger(p) && p > 0 && p < 65536) port = p;
    else report('port', 'must be an integer between 1 and 65535');
  }
  let secure = base.secure;
  if (entry.secure !== undefined) {
    if (typeof entry.secure === 'boolean') secure = entry.secure;
    else report('secure', 'must be true or false');
  }
  let tls: boolean | undefined;
  if (entry.tls !== undefined) {
    if (typeof entry.tls === 'boolean') tls = entry.tls;
    else report('tls', 'must be true (require STARTTLS) or false (never use STARTTLS)');
  }

  let auth: { user: string; pass: string } | undefined;
  if (entry.auth !== undefined) {
    if (entry.email !== undefined || entry.password !== undefined) {
      report('auth', 'give `auth:` or Gramex-style `email:`/`password:`, not both');
    }
    if (!isMapping(entry.auth)) report('auth', 'must be a mapping with user and password');
    else {
      for (const key of Object.keys(entry.auth)) {
        if (!AUTH_KEYS.has(key)) report(`auth.${key}`, 'unknown key; expected user, password');
      }
      const { user, password } = entry.auth;
      if (typeof user !== 'string' || user === '') report('auth.user', 'must be a non-empty string');
      if (typeof password !== 'string') report('auth.password', 'must be a string');
      if (typeof user === 'string' && typeof password === 'string') auth = { user, pass: password };
    }
  } else if (entry.email !== undefined || entry.password !== undefined) {
    const password = entry.password;
    if (typeof password !== 'string') report('password', 'must be a string (with `email:`)');
    else if (!email) report('email', 'is required with `password:`');
    else auth = { user: email, pass: password };
  }

  return {
    name,
    type,
    host,
    port,
    secure,
    ...(tls === true ? { requireTLS: true } : tls === false ? { ignoreTLS: true } : {}),
    ...(auth ? { auth } : {}),
    from: from ?? auth?.user,
  };
}
