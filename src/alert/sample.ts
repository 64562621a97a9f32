/**
 * @module alert/sample
 * `msghub check` renders every alert template once against a sample message, so a template that can only fail
 * (Gramex/Tornado's `{{ msg.get('body', '') }}`: templates here see the message's keys, and nunjucks cannot call
 * a method of an undefined `msg`) is a config problem at load, not a lost mail per message at run time.
 */
import type { ColumnDef, Row } from '../types.js';
import type { CompiledAlert } from './compile.js';
import type { CompiledTemplate } from './compiled-template.js';

/** A message with a plausible value in every column (what a POST stores), for rendering at check time. */
export function sampleMessage(columns: ReadonlyMap<string, ColumnDef>): Row {
  const msg: Row = {};
  for (const c of columns.values()) {
    msg[c.name] =
      c.kind === 'integer' ? 1 : c.kind === 'real' ? 1.5 : c.kind === 'boolean' ? true : c.name === 'timestamp' ? new Date(0).toISOString() : `sample ${c.name}`;
  }
  msg._method = 'POST';
  return msg;
}

/** Renders every template of `alert` against a sample message; returns one problem per template that throws. */
export function alertSampleProblems(alert: CompiledAlert, columns: ReadonlyMap<string, ColumnDef>): { field: string; message: string }[] {
  const vars = { ...sampleMessage(columns), handler: { name: 'sample', current_user: { id: 'sample-user' } } };
  const fields: [string, readonly (CompiledTemplate | undefined)[]][] = [
    ['to', alert.to],
    ['cc', alert.cc],
    ['bcc', alert.bcc],
    ['reply_to', alert.replyTo],
    ['from', [alert.from]],
    ['subject', [alert.subject]],
    ['body', [alert.text]],
    ['html', [alert.html]],
    ['markdown', [alert.markdown]],
    ['attachments', alert.attachments],
  ];
  const problems: { field: string; message: string }[] = [];
  for (const [field, templates] of fields) {
    for (const t of templates) {
      if (!t) continue;
      try {
        t.render(vars);
      } catch (err) {
        const detail = err instanceof Error ? err.message.replace(/\s+/g, ' ').replace(/^\(unknown path\)\s*/, '') : String(err);
        const gramex = /\bmsg\b/.test(detail)
          ? ' Templates see the message\'s keys directly: write {{ body }} (or {{ body or "" }}), not Gramex\'s {{ msg.get(\'body\', \'\') }}'
          : '';
        problems.push({ field, message: `fails on a sample message (every column filled): ${detail}.${gramex}` });
        break;
      }
    }
  }
  return problems;
}
