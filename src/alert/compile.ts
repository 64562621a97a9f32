/**
 * @module alert/compile
 * A handler's `alert:` kwargs → a CompiledAlert, once at load. Every template is compiled here, so a syntax
 * error or an unknown filter is a ConfigIssue with its YAML path (`url.chat.kwargs.alert.subject`), and the
 * per-message work in `renderAlert()` is only rendering.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Environment } from 'nunjucks';
import type { ConfigIssue } from '../errors.js';
import { METHODS, type Method } from '../types.js';
import { defaultAlertLog, type AlertLog } from './log.js';
import type { EmailService } from './services.js';
import { cleanPath, resolveInside } from './paths.js';
import type { CompiledTemplate } from './compiled-template.js';
import { compileTemplate, environmentsFor, templateErrorMessage } from './templates.js';

/** A handler's alert, ready to render. Opaque to the core except for `service` and `methods`. */
export interface CompiledAlert {
  /** Name of the `email:` service mail is sent through. */
  readonly service: string;
  /** Methods that trigger a mail (upper-case). */
  readonly methods: ReadonlySet<Method>;
  /** YAML path of the `alert:` section, used in log lines. */
  readonly path: string;
  /** The handler's YAML folder: attachments resolve against it and must stay inside it. */
  readonly yamlPath: string;
  /** Sender used when `from:` is absent or renders empty: the service's `from` (or its login). */
  readonly defaultFrom: string | undefined;
  readonly to: readonly CompiledTemplate[];
  readonly cc: readonly CompiledTemplate[];
  readonly bcc: readonly CompiledTemplate[];
  readonly replyTo: readonly CompiledTemplate[];
  readonly from: CompiledTemplate | undefined;
  readonly subject: CompiledTemplate | undefined;
  readonly text: CompiledTemplate | undefined;
  readonly html: CompiledTemplate | undefined;
  /** Markdown source; its rendering replaces `html`. */
  readonly markdown: CompiledTemplate | undefined;
  readonly attachments: readonly CompiledTemplate[];
  readonly log: AlertLog;
}

/** Where the `alert:` section sits, and what it can refer to. */
export interface AlertContext {
  /** YAML path of the `alert:` mapping, e.g. `url.chat.kwargs.alert`. */
  path: string;
  file: string;
  /** The handler's $YAMLPATH. */
  yamlPath: string;
  services: ReadonlyMap<string, EmailService>;
  /** Receives the load-time warning about a defaulted service and every render-time skip. */
  log?: AlertLog;
}

const LIST_KEYS = ['to', 'cc', 'bcc', 'reply_to', 'attachments'] as const;
const TEXT_KEYS = ['from', 'subject', 'body'] as const;
const KNOWN = new Set<string>([
  'service', 'methods', ...LIST_KEYS, ...TEXT_KEYS, 'html', 'markdown', 'bodyfile', 'htmlfile', 'markdownfile',
]);
/** Gramex alert keys we deliberately do not support, with what to do instead. */
const UNSUPPORTED: Record<string, string> = {
  images: 'inline images are not supported; use attachments and link to hosted images',
  user: 'signed X-Gramex-User fetches are not supported; attachments are local files',
  on_behalf_of: 'is not supported; use from or reply_to',
};

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Validates and compiles a handler's `alert:` kwargs. `alert` absent (or `null`) means no alerts: `{alert: null}`
 * with no issues. With issues, `alert` is null and every problem is listed.
 */
export function compileAlert(alert: unknown, ctx: AlertContext): { alert: CompiledAlert | null; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const report = (key: string | null, message: string): void => {
    issues.push({ path: key === null ? ctx.path : `${ctx.path}.${key}`, file: ctx.file, message });
  };
  if (alert === undefined || alert === null) return { alert: null, issues };
  if (!isMapping(alert)) {
    report(null, 'must be a mapping (to, subject, body, …)');
    return { alert: null, issues };
  }
  const log = ctx.log ?? defaultAlertLog;
  for (const key of Object.keys(alert)) {
    if (key in UNSUPPORTED) report(key, UNSUPPORTED[key]!);
    else if (!KNOWN.has(key)) report(key, `unknown key; expected one of ${[...KNOWN].join(', ')}`);
  }

  const service = resolveService(alert.service, ctx, report, log);
  const methods = parseMethods(alert.methods, report);
  const envs = environmentsFor(ctx.yamlPath);

  const one = (key: string, env: Environment): CompiledTemplate | undefined => {
    const v = alert[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' && typeof v !== 'number') {
      report(key, 'must be a string template');
      return undefined;
    }
    return compileOrReport(String(v), env, key, report);
  };
  const list = (key: string): CompiledTemplate[] => {
    const v = alert[key];
    if (v === undefined || v === null) return [];
    const items = Array.isArray(v) ? v : [v];
    const out: CompiledTemplate[] = [];
    items.forEach((item, i) => {
      const at = Array.isArray(v) ? `${key}[${i}]` : key;
      if (typeof item !== 'string') report(at, 'must be a string template');
      else {
        const t = compileOrReport(item, envs.text, at, report);
        if (t) out.push(t);
      }
    });
    return out;
  };
  // `body`/`bodyfile` etc. are two spellings of one field; giving both is a mistake, not a preference.
  const field = (inline: string, fileKey: string, env: Environment): CompiledTemplate | undefined => {
    if (alert[inline] !== undefined && alert[fileKey] !== undefined) {
      report(fileKey, `give ${inline} or ${fileKey}, not both`);
      return undefined;
    }
    return alert[fileKey] !== undefined ? fileTemplate(alert[fileKey], env, ctx.yamlPath, fileKey, report) : one(inline, env);
  };

  const to = list('to');
  const cc = list('cc');
  const bcc = list('bcc');
  if (alert.to === undefined && alert.cc === undefined && alert.bcc === undefined) {
    report(null, 'needs at least one of to, cc, bcc');
  }
  const compiled: CompiledAlert = {
    service: service?.name ?? '',
    methods,
    path: ctx.path,
    yamlPath: path.resolve(ctx.yamlPath),
    defaultFrom: service?.from ?? service?.auth?.user,
    to,
    cc,
    bcc,
    replyTo: list('reply_to'),
    from: one('from', envs.text),
    subject: one('subject', envs.text),
    text: field('body', 'bodyfile', envs.text),
    // Markdown becomes HTML, so message data in it is escaped like in `html`.
    html: field('html', 'htmlfile', envs.html),
    markdown: field('markdown', 'markdownfile', envs.html),
    attachments: list('attachments'),
    log,
  };
  if (issues.length > 0 || !service) return { alert: null, issues };
  return { alert: Object.freeze(compiled), issues };
}

type Report = (key: string | null, message: string) => void;

function compileOrReport(src: string, env: Environment, key: string, report: Report): CompiledTemplate | undefined {
  const t = compileTemplate(src, env);
  if ('error' in t) {
    report(key, t.error);
    return undefined;
  }
  return t;
}

function resolveService(value: unknown, ctx: AlertContext, report: Report, log: AlertLog): EmailService | undefined {
  const names = [...ctx.services.keys()];
  if (value === undefined || value === null) {
    const first = ctx.services.values().next();
    if (first.done) {
      report(null, 'no email service to send with; define one under the app-level `email:` section');
      return undefined;
    }
    log('warn', `${ctx.path}: no service: given; using the first email service "${first.value.name}"`);
    return first.value;
  }
  if (typeof value !== 'string') {
    report('service', 'must be the name of an email service');
    return undefined;
  }
  const service = ctx.services.get(value);
  if (!service) report('service', `no email service "${value}"; defined: ${names.length ? names.join(', ') : 'none'}`);
  return service;
}

function parseMethods(value: unknown, report: Report): ReadonlySet<Method> {
  if (value === undefined || value === null) return new Set<Method>(['POST']);
  const items = Array.isArray(value) ? value : [value];
  const methods = new Set<Method>();
  items.forEach((item, i) => {
    const upper = typeof item === 'string' ? item.toUpperCase() : '';
    if ((METHODS as readonly string[]).includes(upper)) methods.add(upper as Method);
    else report(Array.isArray(value) ? `methods[${i}]` : 'methods', `must be one of ${METHODS.join(', ')}`);
  });
  return methods;
}

/**
 * `bodyfile: mail.txt` is read and compiled now (a missing file is a ConfigIssue). A templated path
 * (`bodyfile: "mail-{{ lang }}.txt"`) can only be chosen per message: it is loaded through the environment's
 * loader, which is rooted at $YAMLPATH and caches each file after its first use.
 */
function fileTemplate(value: unknown, env: Environment, yamlPath: string, key: string, report: Report): CompiledTemplate | undefined {
  if (typeof value !== 'string' || value === '') {
    report(key, 'must be a file path relative to the YAML file');
    return undefined;
  }
  if (/\{\{|\{%/.test(value)) {
    // The path itself is plain text (never HTML-escaped), whatever the file's own escaping.
    const name = compileOrReport(value, environmentsFor(yamlPath).text, key, report);
    if (!name) return undefined;
    return {
      render: (vars) => {
        const rel = cleanPath(name.render(vars));
        // nunjucks' loader checks containment by string prefix only (`/app` would admit `/app-secrets`).
        if (!resolveInside(yamlPath, rel)) throw new Error(`${key} "${rel}" is outside the YAML folder`);
        return env.getTemplate(rel).render(vars);
      },
    };
  }
  let src: string;
  try {
    src = fs.readFileSync(path.resolve(yamlPath, value), 'utf8');
  } catch (err) {
    report(key, `cannot read ${value}: ${(err as NodeJS.ErrnoException).code ?? templateErrorMessage(err)}`);
    return undefined;
  }
  return compileOrReport(src, env, key, report);
}
