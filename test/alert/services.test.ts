import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseEmailServices } from '../../src/alert/index.js';

const ctx = { path: 'email', file: '/app/gramex.yaml', yamlPath: '/app' };

describe('parseEmailServices', () => {
  it('returns no services and no issues when the section is absent', () => {
    expect(parseEmailServices(undefined, ctx)).toEqual({ services: new Map(), issues: [] });
  });

  it('fills host, port and secure from a preset, and explicit keys win', () => {
    const { services, issues } = parseEmailServices(
      {
        g: { type: 'gmail', auth: { user: 'me@gmail.com', password: 'pw' } },
        o: { type: 'Office365', port: 25 },
      },
      ctx,
    );
    expect(issues).toEqual([]);
    expect(services.get('g')).toMatchObject({ type: 'gmail', host: 'smtp.gmail.com', port: 465, secure: true, from: 'me@gmail.com', auth: { user: 'me@gmail.com', pass: 'pw' } });
    expect(services.get('o')).toMatchObject({ type: 'office365', host: 'smtp.office365.com', port: 25, secure: false });
  });

  it('resolves smtp and smtps defaults and requires a host', () => {
    const { services, issues } = parseEmailServices({ a: { type: 'smtp', host: 'mx' }, b: { type: 'smtps', host: 'mx' }, c: { type: 'smtp' } }, ctx);
    expect(services.get('a')).toMatchObject({ port: 587, secure: false });
    expect(services.get('b')).toMatchObject({ port: 465, secure: true });
    expect(services.has('c')).toBe(false);
    expect(issues).toEqual([{ path: 'email.c.host', file: ctx.file, message: 'is required for type smtp' }]);
  });

  it('resolves a stub path against the YAML folder', () => {
    const { services } = parseEmailServices({ dev: { type: 'stub', path: 'out/mail.jsonl' }, d2: { type: 'smtp', host: 'x', stub: true } }, ctx);
    expect(services.get('dev')).toMatchObject({ type: 'stub', path: path.resolve('/app/out/mail.jsonl') });
    expect(services.get('d2')).toMatchObject({ type: 'stub', path: path.resolve('/app/msghub-mail.jsonl') });
  });

  it('accepts Gramex email/password/tls keys', () => {
    const { services, issues } = parseEmailServices({ s: { type: 'smtp', host: 'mx', email: 'a@b.c', password: 'pw', tls: false } }, ctx);
    expect(issues).toEqual([]);
    expect(services.get('s')).toMatchObject({ auth: { user: 'a@b.c', pass: 'pw' }, from: 'a@b.c', ignoreTLS: true });
  });

  it('reports every problem with its YAML path', () => {
    const { services, issues } = parseEmailServices({ x: { type: 'carrier-pigeon' }, y: { type: 'smtp', host: 'mx', port: 'abc', colour: 'red' }, z: 3 }, ctx);
    expect(services.size).toBe(0);
    expect(issues.map((i) => i.path)).toEqual(['email.x.type', 'email.y.colour', 'email.y.port', 'email.z']);
  });
});
