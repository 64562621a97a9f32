import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileOrigins, type OriginCheck } from '../../src/auth/index.js';
import { startRequests, type RequestFactory } from './support.js';

let requests: RequestFactory;
beforeAll(async () => {
  requests = await startRequests();
});
afterAll(() => requests.close());

const ctx = { path: 'url.chat.kwargs.origins', file: '/app/gramex.yaml' };
function compile(origins: unknown): OriginCheck {
  const { check, issues } = compileOrigins(origins, ctx);
  expect(issues).toEqual([]);
  return check;
}
/** Whether `check` admits a request to `host` from a page at `origin` (null: no Origin header). */
async function admits(check: OriginCheck, origin: string | null, host = 'chat.example.com'): Promise<boolean> {
  return check(await requests.request({ host, origin }));
}

describe('compileOrigins', () => {
  describe('by default (same host)', () => {
    const check = () => compile(undefined);

    it('admits requests without an Origin header', async () => {
      expect(await admits(check(), null)).toBe(true);
    });

    it('admits a page served from the same host and port', async () => {
      expect(await admits(check(), 'https://chat.example.com')).toBe(true);
      expect(await admits(check(), 'http://chat.example.com:8080', 'chat.example.com:8080')).toBe(true);
      expect(await admits(check(), 'https://Chat.Example.com', 'chat.example.com:443')).toBe(true);
    });

    it('refuses a cross-site page, another port, and a look-alike host', async () => {
      expect(await admits(check(), 'https://evil.example')).toBe(false);
      expect(await admits(check(), 'https://chat.example.com:8443')).toBe(false);
      expect(await admits(check(), 'https://chat.example.com.evil.example')).toBe(false);
      expect(await admits(check(), 'https://sub.chat.example.com')).toBe(false);
    });

    it('refuses the opaque origin "null" and malformed or multiple origins', async () => {
      expect(await admits(check(), 'null')).toBe(false);
      expect(await admits(check(), 'https://chat.example.com/path')).toBe(false);
      expect(await admits(check(), 'https://chat.example.com, https://evil.example')).toBe(false);
      expect(await admits(check(), 'https://chat.example.com', 'evil@chat.example.com')).toBe(false);
    });
  });

  describe('with an allowlist', () => {
    it('admits exactly the listed origins, default ports normalised', async () => {
      const check = compile(['https://app.example.com', 'http://localhost:3000']);
      expect(await admits(check, 'https://app.example.com')).toBe(true);
      expect(await admits(check, 'https://app.example.com:443')).toBe(true);
      expect(await admits(check, 'http://localhost:3000')).toBe(true);
      expect(await admits(check, 'http://app.example.com')).toBe(false);
      expect(await admits(check, 'http://localhost:3001')).toBe(false);
      expect(await admits(check, null)).toBe(true);
    });

    it('replaces the same-host default unless it lists self', async () => {
      expect(await admits(compile('https://app.example.com'), 'https://chat.example.com')).toBe(false);
      const check = compile(['self', 'https://app.example.com']);
      expect(await admits(check, 'https://chat.example.com')).toBe(true);
      expect(await admits(check, 'https://app.example.com')).toBe(true);
    });

    it('matches wildcard subdomains at any depth but not the bare domain or a suffix look-alike', async () => {
      const check = compile(['https://*.example.com']);
      expect(await admits(check, 'https://a.example.com')).toBe(true);
      expect(await admits(check, 'https://a.b.example.com')).toBe(true);
      expect(await admits(check, 'https://example.com')).toBe(false);
      expect(await admits(check, 'https://badexample.com')).toBe(false);
      expect(await admits(check, 'http://a.example.com')).toBe(false);
    });

    it('admits every page only with an explicit *', async () => {
      const check = compile('*');
      expect(await admits(check, 'https://evil.example')).toBe(true);
      expect(await admits(check, 'null')).toBe(true);
    });

    it('reports entries that are not origins, and refuses everything until fixed', async () => {
      const { check, issues } = compileOrigins(['https://ok.example', 'example.com', 'https://a.example/path', 'https://*.com', 'https://a.*.example', 5], ctx);
      expect(issues.map((i) => i.path)).toEqual([
        'url.chat.kwargs.origins[1]',
        'url.chat.kwargs.origins[2]',
        'url.chat.kwargs.origins[3]',
        'url.chat.kwargs.origins[4]',
        'url.chat.kwargs.origins[5]',
      ]);
      expect(await admits(check, 'https://ok.example')).toBe(false);
      expect(compileOrigins([], ctx).issues.map((i) => i.path)).toEqual(['url.chat.kwargs.origins']);
    });
  });
});
