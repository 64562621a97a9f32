/**
 * @module alert
 * Email alerts: `email:` services, `alert:` templates, the durable outbox and its worker. Re-exports only.
 *
 * Flow: at load, `parseEmailServices` + `compileAlert`; per message (inside the pipeline, synchronously)
 * `renderAlert` → `outboxRow`, inserted by the core in the message's own transaction; after the commit,
 * `OutboxWorker.kick()`; the worker sends through `createMailer` transports.
 */
export { parseEmailServices, EMAIL_PRESETS, DEFAULT_STUB_PATH, type EmailService, type ServicesContext } from './services.js';
export { compileAlert, type CompiledAlert, type AlertContext } from './compile.js';
export { renderAlert, type RenderedMail, type AlertHandlerInfo } from './render.js';
export {
  OUTBOX_TABLE,
  OUTBOX_STATES,
  ensureOutboxTable,
  outboxRow,
  messageIdFor,
  listOutbox,
  countOutbox,
  formatOutbox,
  type OutboxState,
  type OutboxFilter,
} from './outbox.js';
export { createMailer, type Mailer } from './mailer.js';
export { DEFAULT_OUTBOX_OPTIONS, backoffDelay, type OutboxOptions } from './options.js';
export { OutboxWorker, isPermanentFailure, type OutboxEvent, type OutboxWorkerEvents } from './worker.js';
export { defaultAlertLog, type AlertLog, type AlertLogLevel } from './log.js';
