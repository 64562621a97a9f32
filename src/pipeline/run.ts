/**
 * @module pipeline/run
 * The whole flow of one message on one screen:
 *
 *   parse → message_default → prepare → normalize → modify → alert render → [commit] → publish
 *
 * This module runs everything up to the commit; the handler batches the commits of one event-loop turn into
 * one transaction and then publishes in commit order. `modify` runs on a copy, so it changes what is broadcast
 * and alerted but never what is stored (ARCHITECTURE decision 6); it runs once the message has passed every
 * check we can make before writing. Each stage is synchronous unless an expression or module function returns
 * a promise.
 */
import { OUTBOX_TABLE, outboxRow, renderAlert } from '../alert/index.js';
import type { MessageHandlerConfig } from '../config/message-handler.js';
import type { Logger } from '../log.js';
import type { WriteRequest } from '../store/store.js';
import type { Method, Row } from '../types.js';
import { applyDefaults, builtinDefaults, type ExprHandler } from './defaults.js';
import { andThen, type MaybePromise } from './maybe-async.js';
import { normalize } from './normalize.js';
import { checkDeleteKeys } from './delete-keys.js';
import type { Message } from './parse.js';
import { checkUntrusted } from './untrusted.js';

/** A message ready to commit. */
export interface Prepared {
  method: Method;
  req: WriteRequest;
  /** What subscribers receive (the message after modify), without `_seq`, which the commit assigns. */
  frame: Row;
  /**
   * Columns `modify` removed from the frame: after the commit, a POST's frame is completed with the stored row's
   * columns (defaults the database filled in), but never with these.
   */
  omitted?: ReadonlySet<string>;
}

/** Builds the per-message function for one handler. Everything that can be computed once is computed here. */
export function createPipeline(cfg: MessageHandlerConfig, log: Logger): (msg: Message, handler: ExprHandler) => MaybePromise<Prepared> {
  const builtins = builtinDefaults(cfg.defaults.POST);
  const { prepare, modify, alert, columns, editAny, name, extraRows } = cfg;
  // Without hooks the message is what its codec checked, plus the built-in id, timestamp and user (the gate
  // checked the user's id), so the second check below is only needed when an expression or module ran.
  const hooked = !!(prepare || modify || cfg.defaults.POST.length || cfg.defaults.PUT.length || cfg.defaults.DELETE.length);

  return function run(msg, handler) {
    const method = msg._method;
    // Sequence numbers are the server's; on PUT, user and timestamp are not the client's to set.
    delete msg._seq;
    if (method === 'DELETE') checkDeleteKeys(msg, columns);
    if (method === 'PUT') {
      delete msg.user;
      delete msg.timestamp;
    }
    const defaulted = applyDefaults(msg, method === 'POST' ? builtins : [], cfg.defaults[method], handler);
    const prepared = andThen(defaulted, () => (prepare ? prepare({ msg, handler }) : undefined));
    return andThen(prepared, () => {
      msg._method = method; // prepare may not turn a POST into a DELETE behind the checks' back
      const { id, values } = normalize(msg, columns);
      const req: WriteRequest = { method, id, values, userId: handler.current_user?.id ?? null, editAny };
      const base: Row = method === 'DELETE' ? { _method: method, id } : msg;
      const frame = modify ? structuredClone(base) : base;
      const modified = modify ? modify({ msg: frame, handler }) : undefined;
      return andThen(modified, () => {
        // Hooks may have built what no client could send (a cycle, a value nested past the limit, half of a
        // surrogate pair from a slice): refused now, before the commit, so a stored message always reaches its
        // subscribers and its history row matches what they heard.
        if (hooked) {
          if (frame !== msg) checkUntrusted(msg);
          checkUntrusted(frame);
        }
        let omitted: Set<string> | undefined;
        if (modify) for (const c of columns.keys()) if (Object.hasOwn(base, c) && !Object.hasOwn(frame, c)) (omitted ??= new Set()).add(c);
        if (alert && method !== 'POST') {
          // A PUT or DELETE frame holds only the keys sent: its alert sees the whole row (after a PUT, before a
          // DELETE) with the frame over it, so `to: "{{ to }}"` mails on every method. The row is known only inside
          // the commit, so the mail is rendered there; renderAlert never throws (a failure costs this one mail).
          if (alert.methods.has(method)) {
            const who = { name, current_user: handler.current_user };
            req.extra = (event) => {
              const mail = renderAlert(alert, method, { ...(event.after ?? event.before), ...frame }, who);
              return mail ? [{ table: OUTBOX_TABLE, row: outboxRow(mail, { handler: name, seq: event.seq }) }] : [];
            };
          }
        } else if (alert) {
          try {
            const mail = renderAlert(alert, method, frame, { name, current_user: handler.current_user });
            if (mail) req.extra = (event) => [{ table: OUTBOX_TABLE, row: outboxRow(mail, { handler: name, seq: event.seq }) }];
          } catch (err) {
            // An alert problem never refuses a message (ARCHITECTURE decision 11); it is logged for the author.
            log('error', `url:${name}: alert template failed`, err);
          }
        }
        if (extraRows && method !== 'DELETE') {
          const alertRows = req.extra;
          req.extra = alertRows ? (event) => [...alertRows(event), ...extraRows(values, event)] : (event) => extraRows(values, event);
        }
        return { method, req, frame, omitted };
      });
    });
  };
}
