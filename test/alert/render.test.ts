import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compileAlert, parseEmailServices, renderAlert, type CompiledAlert } from '../../src/alert/index.js';
import { collectLog, tempDir } from './helpers.js';

let tmp: ReturnType<typeof tempDir>;
let logged: ReturnType<typeof collectLog>;
beforeEach(() => {
  tmp = tempDir();
  logged = collectLog();
});
afterEach(() => tmp.cleanup());

const AT = 'url.chat.kwargs.alert';
const handler = { name: 'chat', current_user: { id: 'alice@example.org' } };

function compile(alert: unknown, services: unknown = { local: { type: 'smtp', host: '127.0.0.1', from: 'hub@example.org' } }) {
  const parsed = parseEmailServices(services, { path: 'email', file: 'gramex.yaml', yamlPath: tmp.dir });
  return compileAlert(alert, { path: AT, file: 'gramex.yaml', yamlPath: tmp.dir, services: parsed.services, log: logged.log });
}

function ok(alert: unknown): CompiledAlert {
  const { alert: compiled, issues } = compile(alert);
  expect(issues).toEqual([]);
  return compiled!;
}

describe('compileAlert', () => {
  it('returns no alert and no issues when alert: is absent', () => {
    expect(compile(undefined)).toEqual({ alert: null, issues: [] });
  });

  it('reports a template syntax error with the YAML path of the field', () => {
    const { alert, issues } = compile({ to: '{{ to }}', subject: 'Hi {{ body ' });
    expect(alert).toBeNull();
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ path: `${AT}.subject`, file: 'gramex.yaml' });
    expect(issues[0]!.message).toMatch(/template error/);
  });

  it('reports unknown keys, unknown filters, bad methods and list items by path', () => {
    const { issues } = compile({ to: ['{{ to }}', '{% if %}'], subject: '{{ body | shout }}', methods: ['POST', 'PATCH'], colour: 1, images: {} });
    expect(issues.map((i) => i.path).sort()).toEqual(
      [`${AT}.colour`, `${AT}.images`, `${AT}.methods[1]`, `${AT}.subject`, `${AT}.to[1]`].sort(),
    );
    expect(issues.find((i) => i.path === `${AT}.subject`)!.message).toBe('unknown filter "shout"');
  });

  it('requires a recipient field and a known service', () => {
    expect(compile({ subject: 'x' }).issues.map((i) => i.message)).toEqual(['needs at least one of to, cc, bcc']);
    expect(compile({ to: 'a@b.c', service: 'nope' }).issues[0]).toMatchObject({ path: `${AT}.service`, message: 'no email service "nope"; defined: local' });
    expect(compile({ to: 'a@b.c' }, {}).issues[0]!.message).toMatch(/no email service/);
  });

  it('defaults to the first email service with a logged warning', () => {
    const alert = ok({ to: 'a@b.c' });
    expect(alert.service).toBe('local');
    expect(logged.lines).toEqual([`warn: ${AT}: no service: given; using the first email service "local"`]);
  });

  it('reports a missing template file and both body and bodyfile', () => {
    const { issues } = compile({ to: 'a@b.c', htmlfile: 'missing.html', body: 'x', bodyfile: 'b.txt' });
    expect(issues.map((i) => [i.path, i.message])).toEqual([
      [`${AT}.bodyfile`, 'give body or bodyfile, not both'],
      [`${AT}.htmlfile`, 'cannot read missing.html: ENOENT'],
    ]);
  });
});

describe('renderAlert', () => {
  it('renders recipients, subject, text and html from the message and handler', () => {
    const alert = ok({
      to: '{{ to }}',
      cc: ['{{ user }}'],
      reply_to: '{{ handler.current_user.id }}',
      subject: 'Message: {{ body }}',
      body: '{{ user }} wrote {{ body }} in {{ handler.name }}',
      html: '<p>{{ body }}</p>',
    });
    const mail = renderAlert(alert, 'POST', { id: 'm1', to: 'bob@example.org, "Doe, Jane" <jane@example.org>', user: 'carol@example.org', body: 'Hello' }, handler);
    expect(mail).toEqual({
      service: 'local',
      from: 'hub@example.org',
      to: ['bob@example.org', '"Doe, Jane" <jane@example.org>'],
      cc: ['carol@example.org'],
      bcc: [],
      replyTo: 'alice@example.org',
      subject: 'Message: Hello',
      text: 'carol@example.org wrote Hello in chat',
      html: '<p>Hello</p>',
      attachments: [],
    });
  });

  it('escapes HTML in html only, never in plain-text fields', () => {
    const alert = ok({ to: 'a@b.c', subject: '{{ body }}', body: '{{ body }}', html: '<p>{{ body }}</p>{{ "<br>" | safe }}' });
    const mail = renderAlert(alert, 'POST', { body: 'Tom & <b>Jerry</b>' }, handler)!;
    expect(mail.subject).toBe('Tom & <b>Jerry</b>');
    expect(mail.text).toBe('Tom & <b>Jerry</b>');
    expect(mail.html).toBe('<p>Tom &amp; &lt;b&gt;Jerry&lt;/b&gt;</p><br>');
  });

  it('renders markdown to HTML, escaping message data, and markdown replaces html', () => {
    const alert = ok({ to: 'a@b.c', html: '<p>ignored</p>', markdown: '# {{ title }}\n\n**{{ body }}**' });
    const mail = renderAlert(alert, 'POST', { title: 'News', body: '<script>x</script>' }, handler)!;
    expect(mail.html).toBe('<h1>News</h1>\n<p><strong>&lt;script&gt;x&lt;/script&gt;</strong></p>\n');
  });

  it('renders bodyfile, htmlfile, markdownfile and includes relative to the YAML folder', () => {
    fs.mkdirSync(path.join(tmp.dir, 'mail'));
    fs.writeFileSync(path.join(tmp.dir, 'mail/body.txt'), 'Text: {{ body }}{% include "mail/footer.txt" %}');
    fs.writeFileSync(path.join(tmp.dir, 'mail/footer.txt'), ' -- {{ handler.name }}');
    fs.writeFileSync(path.join(tmp.dir, 'mail/body.html'), '<i>{{ body }}</i>');
    fs.writeFileSync(path.join(tmp.dir, 'mail/en.md'), '_{{ body }}_');
    const a = ok({ to: 'a@b.c', bodyfile: 'mail/body.txt', htmlfile: 'mail/body.html' });
    expect(renderAlert(a, 'POST', { body: '<x>' }, handler)).toMatchObject({ text: 'Text: <x> -- chat', html: '<i>&lt;x&gt;</i>' });
    const b = ok({ to: 'a@b.c', markdownfile: 'mail/{{ lang }}.md' });
    expect(renderAlert(b, 'POST', { body: 'hi', lang: 'en' }, handler)!.html).toBe('<p><em>hi</em></p>\n');
  });

  it('sends for POST only by default; methods: widens it, case-insensitively', () => {
    const post = ok({ to: 'a@b.c' });
    expect(renderAlert(post, 'POST', {}, handler)).not.toBeNull();
    expect(renderAlert(post, 'PUT', {}, handler)).toBeNull();
    expect(renderAlert(post, 'DELETE', {}, handler)).toBeNull();
    const all = ok({ to: 'a@b.c', methods: ['post', 'Put'] });
    expect(renderAlert(all, 'PUT', {}, handler)).not.toBeNull();
    expect(renderAlert(all, 'DELETE', {}, handler)).toBeNull();
  });

  it('suppresses the mail when _alert is falsy, and sends when it is truthy or absent', () => {
    const alert = ok({ to: 'a@b.c' });
    for (const v of [false, 0, '', null]) expect(renderAlert(alert, 'POST', { _alert: v }, handler)).toBeNull();
    for (const v of [true, 1, 'yes']) expect(renderAlert(alert, 'POST', { _alert: v }, handler)).not.toBeNull();
  });

  it('skips the mail with a warning when no recipient renders', () => {
    const alert = ok({ to: '{{ to }}', cc: '{{ cc }}', subject: 'x' });
    expect(renderAlert(alert, 'POST', { id: 'm9', to: '' }, handler)).toBeNull();
    expect(logged.lines.at(-1)).toBe(`warn: ${AT} (message m9): no recipients rendered; alert skipped`);
  });

  it('renders a missing variable as empty', () => {
    const alert = ok({ to: 'a@b.c', subject: '[{{ nothing }}][{{ deep.er.still }}]' });
    expect(renderAlert(alert, 'POST', {}, handler)!.subject).toBe('[][]');
  });

  it('keeps every header field on one line whatever the message contains', () => {
    const alert = ok({ to: 'a@b.c', from: '{{ name }} <hub@example.org>', subject: '{{ body }}', body: '{{ body }}' });
    const mail = renderAlert(alert, 'POST', { body: 'hi\r\nBcc: evil@x', name: 'Eve\nX-Evil: 1' }, handler)!;
    expect(mail.subject).toBe('hi Bcc: evil@x');
    expect(mail.from).toBe('Eve X-Evil: 1 <hub@example.org>');
    expect(mail.bcc).toEqual([]);
    expect(mail.text).toBe('hi\r\nBcc: evil@x');
  });

  it('does not let a message key named handler pose as the handler', () => {
    const alert = ok({ to: 'a@b.c', subject: '{{ handler.current_user.id }}' });
    const mail = renderAlert(alert, 'POST', { handler: { current_user: { id: 'mallory' } } }, handler)!;
    expect(mail.subject).toBe('alice@example.org');
  });

  it('resolves attachments inside the YAML folder and drops those outside', () => {
    const alert = ok({ to: 'a@b.c', attachments: ['files/{{ doc }}', '{{ evil }}', '{% if none %}x{% endif %}'] });
    const mail = renderAlert(alert, 'POST', { id: 'm2', doc: 'report.txt', evil: '../../etc/passwd' }, handler)!;
    expect(mail.attachments).toEqual([{ filename: 'report.txt', path: path.join(tmp.dir, 'files/report.txt') }]);
    expect(logged.lines.at(-1)).toBe(`warn: ${AT} (message m2): attachment "../../etc/passwd" is outside the YAML folder; skipped`);
  });

  it('logs and returns null, never throws, when a template fails at run time', () => {
    const alert = ok({ to: 'a@b.c', subject: '{{ nope() }}' });
    expect(renderAlert(alert, 'POST', { id: 'm3' }, handler)).toBeNull();
    expect(logged.lines.at(-1)).toMatch(/^error: url\.chat\.kwargs\.alert \(message m3\): alert not sent, template failed: .*Unable to call `nope`/);
  });
});
