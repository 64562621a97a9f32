import { describe, expect, it } from 'vitest';
import { checkRefresh, msUntilExpiry } from '../../src/auth/index.js';
import { catalog } from '../../src/errors.js';

describe('checkRefresh', () => {
  it('accepts a fresh token for the same user', () => {
    expect(checkRefresh({ id: 'alice', role: 'a' }, { id: 'alice', role: 'b' })).toBeNull();
  });

  it('refuses a token for another user, or a login on an anonymous socket', () => {
    expect(checkRefresh({ id: 'alice' }, { id: 'bob' })).toMatchObject({ code: 'MH_ERR_AUTH_FORBIDDEN', closeCode: 4403 });
    expect(checkRefresh(null, { id: 'bob' })?.message).toContain('reconnect with the token to log in');
  });
});

describe('msUntilExpiry', () => {
  it('counts down to the expiry, never below zero, and is null without one', () => {
    expect(msUntilExpiry(10_000, 4_000)).toBe(6_000);
    expect(msUntilExpiry(10_000, 12_000)).toBe(0);
    expect(msUntilExpiry(null, 12_000)).toBeNull();
  });

  it('pairs with MH_ERR_AUTH_EXPIRED, which closes with 4401', () => {
    expect(catalog.MH_ERR_AUTH_EXPIRED).toMatchObject({ status: 401, close: 4401 });
  });
});
