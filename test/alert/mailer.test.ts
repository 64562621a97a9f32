import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compileAlert, createMailer, parseEmailServices, renderAlert } from '../../src/alert/index.js';
import { collectLog, mail, startSmtp, tempDir, type TestSmtp } from './helpers.js';

let tmp: ReturnType<typeof tempDir>;
let smtp: TestSmtp;
beforeEach(async () => {
  tmp = tempDir();
  smtp = await startSmtp();
});
afterEach(async () => {
  await smtp.close();
  tmp.cleanup();
});

function setup(alert: unknown) {
  const { services } = parseEmailServices({ local: { type: 'smtp', host: '127.0.0.1', port: smtp.port, from: 'hub@example.org' } }, { path: 'email', file: 'gramex.yaml', yamlPath: tmp.dir });
  const compiled = compileAlert(alert, { path: 'url.chat.kwargs.alert', file: 'gramex.yaml', yamlPath: tmp.dir, services, log: collectLog().log });
  expect(compiled.issues).toEqual([]);
  return { alert: compiled.alert!, mailer: createMailer(services.get('local')!) };
}

describe('createMailer (smtp)', () => {
  it('delivers the rendered mail with its Message-ID, recipients and bodies', async () => {
    const { alert, mailer } = setup({ to: '{{ to }}', bcc: 'audit@example.org', subject: 'Re: {{ body }}', body: '{{ body }}', html: '<b>{{ body }}</b>' });
    const rendered = renderAlert(alert, 'POST', { to: 'bob@example.org', body: 'Hi & bye' }, { name: 'chat', current_user: null })!;
    await mailer.send(rendered, '<m1@example.org>');
    await mailer.close();
    const [got] = await smtp.waitForCount(1);
    expect(got!.rcptTo.sort()).toEqual(['audit@example.org', 'bob@example.org']);
    expect(got!.mailFrom).toBe('hub@example.org');
    expect(got!.mail.messageId).toBe('<m1@example.org>');
    expect(got!.mail.subject).toBe('Re: Hi & bye');
    expect(got!.mail.text).toBe('Hi & bye');
    expect(got!.mail.html).toBe('<b>Hi &amp; bye</b>');
    expect(got!.mail.headers.has('bcc')).toBe(false);
  });

  it('cannot be made to add a header or a recipient through message data', async () => {
    const { alert, mailer } = setup({ to: 'bob@example.org', subject: '{{ body }}', body: 'x', reply_to: '{{ reply }}' });
    const msg = { body: 'hi\r\nBcc: evil@x', reply: 'ok@example.org\r\nX-Injected: yes' };
    await mailer.send(renderAlert(alert, 'POST', msg, { name: 'chat', current_user: null })!, '<m2@example.org>');
    await mailer.close();
    const [got] = await smtp.waitForCount(1);
    expect(got!.rcptTo).toEqual(['bob@example.org']);
    expect(got!.mail.subject).toBe('hi Bcc: evil@x');
    expect(got!.mail.headers.has('bcc')).toBe(false);
    expect(got!.mail.headers.has('x-injected')).toBe(false);
    expect(got!.mail.headerLines.filter((h) => /^(bcc|x-injected):/i.test(h.line))).toEqual([]);
  });

  it('sends attachments from the YAML folder', async () => {
    fs.mkdirSync(path.join(tmp.dir, 'files'));
    fs.writeFileSync(path.join(tmp.dir, 'files/report.csv'), 'a,b\n1,2\n');
    const { alert, mailer } = setup({ to: 'bob@example.org', attachments: ['files/{{ doc }}'] });
    await mailer.send(renderAlert(alert, 'POST', { doc: 'report.csv' }, { name: 'chat', current_user: null })!, '<m3@example.org>');
    await mailer.close();
    const [got] = await smtp.waitForCount(1);
    expect(got!.mail.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([['report.csv', 'a,b\n1,2\n']]);
  });
});

describe('createMailer (stub)', () => {
  it('appends one JSON line per mail to the stub file', async () => {
    const { services } = parseEmailServices({ dev: { type: 'stub', path: 'out/mail.jsonl' } }, { path: 'email', file: 'gramex.yaml', yamlPath: tmp.dir });
    const mailer = createMailer(services.get('dev')!);
    await mailer.send(mail(1), '<a@x>');
    await mailer.send(mail(2), '<b@x>');
    await mailer.close();
    const lines = fs.readFileSync(path.join(tmp.dir, 'out/mail.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.messageId, l.subject, l.to])).toEqual([
      ['<a@x>', 'Alert 1', ['user1@example.org']],
      ['<b@x>', 'Alert 2', ['user2@example.org']],
    ]);
  });
});
