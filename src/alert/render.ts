/**
 * @module alert/render
 * One message → one RenderedMail, synchronously, inside the message pipeline. Rendering never throws into the
 * pipeline: a template that fails at run time (e.g. calls an undefined function) costs this one mail, logged,
 * never the sender's message. The result is plain JSON so the core can store it in the outbox in the same
 * transaction as the message.
 */
import path from 'node:path';
import { Marked } from 'marked';
import type { Method, Row, User } from '../types.js';
import type { CompiledAlert } from './compile.js';
import { cleanHeader, parseAddresses } from './headers.js';
import { cleanPath, resolveInside } from './paths.js';
import type { CompiledTemplate } from './compiled-template.js';

/** A rendered mail: everything a Mailer needs, JSON-serializable. Header fields are single-line. */
export interface RenderedMail {
  service: string;
  from?: string;
  to: string[];
  cc: string[];
  bcc: string[];
  replyTo?: string;
  subject: string;
  text?: string;
  html?: string;
  /** Absolute paths inside the handler's YAML folder; `filename` is the name recipients see. */
  attachments: { filename: string; path: string }[];
}

/** What the template sees as `handler`. */
export interface AlertHandlerInfo {
  name: string;
  current_user: User | null;
}

// A private instance: other code configuring the global `marked` must not change how our mail looks.
const markdown = new Marked({ async: false, gfm: true });

/**
 * Renders `alert` for one message (after `modify`). Returns null, sending nothing, when `method` is not in
 * `alert.methods`, when the message carries a falsy `_alert` (false, 0, "", null), when no recipient renders,
 * or when a template fails at run time (logged as an error).
 *
 * Template variables are the message's keys plus `handler` ({name, current_user}). `handler` always wins over a
 * message key of the same name, so a client cannot pose as another user in a template.
 */
export function renderAlert(
  alert: CompiledAlert,
  method: Method,
  msg: Readonly<Row>,
  handler: AlertHandlerInfo,
): RenderedMail | null {
  if (!alert.methods.has(method)) return null;
  if (Object.hasOwn(msg, '_alert') && !msg._alert) return null;
  const vars: Record<string, unknown> = { ...msg, handler: { name: handler.name, current_user: handler.current_user } };
  const ref = `${alert.path} (message ${String(msg.id ?? '?')})`;
  try {
    const addresses = (templates: readonly CompiledTemplate[], field: string): string[] => {
      const out: string[] = [];
      for (const t of templates) {
        const { valid, invalid } = parseAddresses(t.render(vars));
        out.push(...valid);
        if (invalid.length) {
          alert.log('warn', `${ref}: ${field}: skipped invalid address ${invalid.map((a) => JSON.stringify(a)).join(', ')}`);
        }
      }
      return out;
    };
    const to = addresses(alert.to, 'to');
    const cc = addresses(alert.cc, 'cc');
    const bcc = addresses(alert.bcc, 'bcc');
    if (to.length + cc.length + bcc.length === 0) {
      alert.log('warn', `${ref}: no recipients rendered; alert skipped`);
      return null;
    }
    const replyTo = addresses(alert.replyTo, 'reply_to');
    const from = (alert.from && cleanHeader(alert.from.render(vars))) || alert.defaultFrom;

    const mail: RenderedMail = {
      service: alert.service,
      ...(from ? { from: cleanHeader(from) } : {}),
      to,
      cc,
      bcc,
      ...(replyTo.length ? { replyTo: replyTo.join(', ') } : {}),
      subject: alert.subject ? cleanHeader(alert.subject.render(vars)) : '',
      attachments: attachments(alert, vars, ref),
    };
    if (alert.text) mail.text = alert.text.render(vars);
    if (alert.markdown) mail.html = markdown.parse(alert.markdown.render(vars)) as string;
    else if (alert.html) mail.html = alert.html.render(vars);
    return mail;
  } catch (err) {
    const detail = err instanceof Error ? err.message.replace(/\s+/g, ' ') : String(err);
    alert.log('error', `${ref}: alert not sent, template failed: ${detail}`);
    return null;
  }
}

/**
 * Renders attachment paths. An empty result skips that entry (so `{% if %}` can make an attachment optional);
 * a path outside the YAML folder is dropped with a warning, since message data may have chosen it.
 */
function attachments(alert: CompiledAlert, vars: object, ref: string): RenderedMail['attachments'] {
  const out: RenderedMail['attachments'] = [];
  for (const t of alert.attachments) {
    const rel = cleanPath(t.render(vars));
    if (!rel) continue;
    const full = resolveInside(alert.yamlPath, rel);
    if (!full) {
      alert.log('warn', `${ref}: attachment "${rel}" is outside the YAML folder; skipped`);
      continue;
    }
    out.push({ filename: path.basename(full), path: full });
  }
  return out;
}
