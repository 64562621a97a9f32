/**
 * @module alert/mailer
 * Mailer: the one thing the OutboxWorker needs to deliver a RenderedMail. Two implementations: SMTP via
 * nodemailer, and a stub that appends one JSON line per mail to a file (development, tests).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { RenderedMail } from './render.js';
import type { EmailService } from './services.js';

/**
 * Sends rendered mail through one email service.
 *
 * Contract: `send()` resolves once the server accepted the mail (or the stub wrote it) and rejects otherwise; it
 * may reject with nodemailer's `responseCode` (SMTP reply code) or a Node `code` (ECONNREFUSED, ENOENT, …) so
 * the caller can tell a permanent refusal from an outage. The same `messageId` must be passed for every retry of
 * one alert. `close()` releases sockets; whoever created the Mailer closes it (the worker never does).
 */
export interface Mailer {
  send(mail: RenderedMail, messageId: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * SMTP timeouts. nodemailer's defaults (2 min to connect, 10 min of socket silence) would let one dead server
 * hold a worker slot for many minutes; these keep a stalled attempt under about 80 s.
 */
const TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 60_000 };

/** A Mailer for `service`: nodemailer SMTP(S) for smtp/smtps/presets, a JSON-lines writer for `type: stub`. */
export function createMailer(service: EmailService): Mailer {
  return service.type === 'stub' ? stubMailer(service) : smtpMailer(service);
}

function smtpMailer(service: EmailService): Mailer {
  const transport = nodemailer.createTransport({
    host: service.host,
    port: service.port,
    secure: service.secure ?? false,
    requireTLS: service.requireTLS,
    ignoreTLS: service.ignoreTLS,
    auth: service.auth,
    ...TIMEOUTS,
    // Attachments are local files we vetted at render time; never let a path that looks like a URL be fetched.
    disableUrlAccess: true,
  });
  return {
    async send(mail, messageId) {
      await transport.sendMail({
        from: mail.from,
        to: mail.to,
        cc: mail.cc,
        bcc: mail.bcc,
        replyTo: mail.replyTo,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        attachments: mail.attachments.map((a) => ({ filename: a.filename, path: a.path })),
        messageId,
      });
    },
    async close() {
      transport.close();
    },
  };
}

function stubMailer(service: EmailService): Mailer {
  const file = service.path ?? path.resolve('msghub-mail.jsonl');
  let ready: Promise<unknown> | null = null;
  return {
    async send(mail, messageId) {
      ready ??= fs.mkdir(path.dirname(file), { recursive: true });
      await ready;
      // One write per line: appends of a single small buffer do not interleave between processes.
      await fs.appendFile(file, JSON.stringify({ messageId, date: new Date().toISOString(), ...mail }) + '\n');
    },
    async close() {},
  };
}
