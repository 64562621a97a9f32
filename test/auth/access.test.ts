import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkAccess, compileAccessRule, type AccessRule } from '../../src/auth/index.js';
import type { User } from '../../src/types.js';

type Modules = Readonly<Record<string, Readonly<Record<string, unknown>>>>;
const FILE = '/app/gramex.yaml';
const request = { ip: '10.0.0.7', headers: { 'user-agent': 'test' } };
let mymodule: Record<string, unknown>;

beforeAll(async () => {
  mymodule = (await import(pathToFileURL(resolve(import.meta.dirname, '../fixtures/modules/mymodule.js')).href)) as Record<string, unknown>;
});

function compile(auth: unknown, modules: Modules = {}): AccessRule | null {
  const { rule, issues } = compileAccessRule(auth, { path: 'url.chat.kwargs.auth', file: FILE, modules });
  expect(issues).toEqual([]);
  return rule;
}
const issuesOf = (auth: unknown, modules: Modules = {}) => compileAccessRule(auth, { path: 'url.chat.kwargs.auth', file: FILE, modules }).issues;
const codeOf = (rule: AccessRule | null, user: User | null) => checkAccess(rule, user, request)?.code ?? null;

const alice: User = { id: 'alice', role: 'admin', groups: ['eng', 'ops'], org: { name: 'acme' }, level: 3 };
const bob: User = { id: 'bob', role: 'viewer', groups: ['sales'], level: 1 };

describe('compileAccessRule and checkAccess', () => {
  it('lets everyone in without auth or with auth: false', () => {
    expect(compile(undefined)).toBeNull();
    expect(compile(false)).toBeNull();
    expect(codeOf(null, null)).toBeNull();
  });

  it('requires a login for auth: true and for any auth mapping', () => {
    for (const auth of [true, {}]) {
      const rule = compile(auth);
      const err = checkAccess(rule, null, request);
      expect(err).toMatchObject({ code: 'MH_ERR_AUTH_REQUIRED', status: 401, closeCode: 4401 });
      expect(codeOf(rule, bob)).toBeNull();
    }
  });

  describe('membership', () => {
    it('needs every attribute of one mapping to match', () => {
      const rule = compile({ membership: { role: ['admin', 'editor'], level: 3 } });
      expect(codeOf(rule, alice)).toBeNull();
      expect(codeOf(rule, { ...alice, level: 2 })).toBe('MH_ERR_AUTH_FORBIDDEN');
      expect(codeOf(rule, bob)).toBe('MH_ERR_AUTH_FORBIDDEN');
      expect(checkAccess(rule, bob, request)).toMatchObject({ status: 403, closeCode: 4403, message: 'Forbidden: membership not met' });
    });

    it('admits with any one of a list of mappings', () => {
      const rule = compile({ membership: [{ role: 'admin' }, { groups: 'sales' }] });
      expect(codeOf(rule, alice)).toBeNull();
      expect(codeOf(rule, bob)).toBeNull();
      expect(codeOf(rule, { id: 'eve', role: 'guest' })).toBe('MH_ERR_AUTH_FORBIDDEN');
    });

    it('matches a list-valued user attribute when any of its values is allowed', () => {
      const rule = compile({ membership: { groups: ['ops', 'infra'] } });
      expect(codeOf(rule, alice)).toBeNull();
      expect(codeOf(rule, bob)).toBe('MH_ERR_AUTH_FORBIDDEN');
    });

    it('reads dotted attributes and compares values strictly', () => {
      expect(codeOf(compile({ membership: { 'org.name': 'acme' } }), alice)).toBeNull();
      expect(codeOf(compile({ membership: { level: '3' } }), alice)).toBe('MH_ERR_AUTH_FORBIDDEN');
      expect(codeOf(compile({ membership: { missing: 'x' } }), alice)).toBe('MH_ERR_AUTH_FORBIDDEN');
      expect(codeOf(compile({ membership: { constructor: 'Object' } }), alice)).toBe('MH_ERR_AUTH_FORBIDDEN');
    });

    it('still requires a login', () => {
      expect(codeOf(compile({ membership: { role: 'admin' } }), null)).toBe('MH_ERR_AUTH_REQUIRED');
    });

    it('reports malformed membership with its path', () => {
      expect(issuesOf({ membership: [] }).map((i) => i.path)).toEqual(['url.chat.kwargs.auth.membership']);
      expect(issuesOf({ membership: [{ role: [] }, 'admin', { role: [{ a: 1 }] }] }).map((i) => i.path)).toEqual([
        'url.chat.kwargs.auth.membership[0].role',
        'url.chat.kwargs.auth.membership[1]',
        'url.chat.kwargs.auth.membership[2].role',
      ]);
    });
  });

  describe('condition', () => {
    it('admits when the expression is truthy, over user, request and handler', () => {
      const rule = compile({ condition: 'user.level >= 2 && request.ip.startsWith("10.") && handler.current_user.id == user.id' });
      expect(codeOf(rule, alice)).toBeNull();
      expect(codeOf(rule, bob)).toBe('MH_ERR_AUTH_FORBIDDEN');
      expect(codeOf(rule, null)).toBe('MH_ERR_AUTH_REQUIRED');
    });

    it("accepts Gramex's {function: …} form and combines with membership", () => {
      const rule = compile({ membership: { groups: 'eng' }, condition: { function: 'handler.current_user.role == "admin"' } });
      expect(codeOf(rule, alice)).toBeNull();
      expect(codeOf(rule, { ...alice, role: 'viewer' })).toBe('MH_ERR_AUTH_FORBIDDEN');
      expect(codeOf(rule, { ...bob, role: 'admin' })).toBe('MH_ERR_AUTH_FORBIDDEN');
    });

    it('denies when the expression fails at run time, keeping the error as cause', () => {
      const rule = compile({ condition: 'user.email.endsWith("@example.com")' });
      const err = checkAccess(rule, alice, request);
      expect(err).toMatchObject({ code: 'MH_ERR_AUTH_FORBIDDEN', message: 'Forbidden: condition not met' });
      expect(err?.cause).toBeInstanceOf(Error);
    });

    it('may call synchronous module functions', () => {
      const rule = compile({ condition: 'mymodule.sum(user.level, 1) == 4' }, { mymodule });
      expect(codeOf(rule, alice)).toBeNull();
      expect(codeOf(rule, bob)).toBe('MH_ERR_AUTH_FORBIDDEN');
    });

    it('reports a call to an async module function at load', () => {
      expect(issuesOf({ condition: 'mymodule.later("x")' }, { mymodule })).toEqual([
        { path: 'url.chat.kwargs.auth.condition', file: FILE, message: expect.stringContaining('calls mymodule.later(), an async function') },
      ]);
    });

    it('denies when a module function returns a promise at run time', () => {
      const sneaky = { check: () => Promise.resolve(true) };
      const err = checkAccess(compile({ condition: 'sneaky.check()' }, { sneaky }), alice, request);
      expect(err?.code).toBe('MH_ERR_AUTH_FORBIDDEN');
      expect(String((err?.cause as Error).message)).toContain('sneaky.check() returned a promise');
    });

    it('reports syntax errors, unknown names and assignments with their path', () => {
      expect(issuesOf({ condition: 'user.role ==' })[0]).toMatchObject({ path: 'url.chat.kwargs.auth.condition', message: expect.stringContaining('Syntax error') });
      expect(issuesOf({ condition: { function: 'msg.body' } })[0]).toMatchObject({ path: 'url.chat.kwargs.auth.condition.function' });
      expect(issuesOf({ condition: 'user.role = "admin"' })).toHaveLength(1);
      expect(issuesOf({ condition: '' })[0]?.path).toBe('url.chat.kwargs.auth.condition');
    });
  });

  it('reports unknown keys and values that are not a rule', () => {
    expect(issuesOf({ membership: { role: 'a' }, login_url: '/login' }).map((i) => i.path)).toEqual(['url.chat.kwargs.auth.login_url']);
    expect(issuesOf('yes').map((i) => i.path)).toEqual(['url.chat.kwargs.auth']);
  });
});
