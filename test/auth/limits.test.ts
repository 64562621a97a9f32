import { describe, expect, it } from 'vitest';
import { ConnectionCounter, LIMIT_DEFAULTS, parseLimits, RateGuard, TokenBucket } from '../../src/auth/index.js';

/** A clock the test moves by hand. */
function fakeClock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('TokenBucket', () => {
  it('allows a burst at once, then refills at the rate', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(2, 3, clock.now);
    expect([1, 2, 3, 4].map(() => bucket.take())).toEqual([true, true, true, false]);
    clock.advance(499);
    expect(bucket.take()).toBe(false);
    clock.advance(1);
    expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
  });

  it('never holds more than the burst', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(10, 2, clock.now);
    clock.advance(60_000);
    expect(bucket.available()).toBe(2);
  });

  it('takes several tokens at once, or none', () => {
    const bucket = new TokenBucket(1, 5, fakeClock().now);
    expect(bucket.take(4)).toBe(true);
    expect(bucket.take(2)).toBe(false);
    expect(bucket.available()).toBe(1);
  });

  it('is not drained by a clock that steps backwards', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(1, 2, clock.now);
    bucket.take();
    clock.advance(-10_000);
    expect(bucket.available()).toBe(1);
  });

  it('refuses a rate or burst it cannot honour', () => {
    expect(() => new TokenBucket(0, 1)).toThrow(RangeError);
    expect(() => new TokenBucket(1, 0)).toThrow(RangeError);
  });
});

describe('RateGuard', () => {
  const guard = (clock = fakeClock(), opts = {}) => new RateGuard({ messagesPerSecond: 10, burst: 5, closeAfterSeconds: 10, closeAfterRefusals: 20, ...opts }, clock.now);

  it('says ok within the rate and limited beyond it', () => {
    const g = guard();
    expect(Array.from({ length: 6 }, () => g.take())).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'limited']);
  });

  it('closes a flood after K refusals while over the limit', () => {
    const g = guard();
    const verdicts = Array.from({ length: 25 }, () => g.take());
    expect(verdicts.filter((v) => v === 'limited')).toHaveLength(19);
    expect(verdicts[24]).toBe('close');
    expect(g.take()).toBe('close');
  });

  it('closes a client that stays over the limit for T seconds even if some frames get through', () => {
    const clock = fakeClock();
    const g = guard(clock, { closeAfterRefusals: 1000 });
    for (let i = 0; i < 5; i++) g.take();
    // Twice the rate: every other frame finds a token, so the bucket never recovers a spare one.
    const verdicts: string[] = [];
    for (let ms = 0; ms < 10_050; ms += 50) {
      clock.advance(50);
      verdicts.push(g.take());
    }
    expect(verdicts.filter((v) => v === 'ok').length).toBeGreaterThan(90);
    expect(verdicts.at(-1)).toBe('close');
    expect(verdicts.indexOf('close')).toBeGreaterThanOrEqual(199);
  });

  it('forgives a burst once the client slows down', () => {
    const clock = fakeClock();
    const g = guard(clock);
    for (let i = 0; i < 5 + 15; i++) g.take(); // 15 refusals: close to the K of 20
    clock.advance(1_000);
    expect(g.take()).toBe('ok');
    for (let i = 0; i < 4; i++) g.take();
    expect(Array.from({ length: 19 }, () => g.take()).every((v) => v === 'limited')).toBe(true);
  });

  it('never limits when the rate is 0', () => {
    const g = new RateGuard({ messagesPerSecond: 0, burst: 1 }, fakeClock().now);
    expect(Array.from({ length: 1000 }, () => g.take()).every((v) => v === 'ok')).toBe(true);
  });
});

describe('ConnectionCounter', () => {
  it('caps connections per address', () => {
    const counter = new ConnectionCounter(100, 2);
    expect(counter.acquire('10.0.0.1')).toBeNull();
    expect(counter.acquire('::ffff:10.0.0.1')).toBeNull();
    const err = counter.acquire('10.0.0.1');
    expect(err).toMatchObject({ code: 'MH_ERR_TOO_MANY_CONNECTIONS', status: 429, message: 'Too many connections: your address has 2 open; the limit is 2' });
    expect(counter.acquire('10.0.0.2')).toBeNull();
    counter.release('10.0.0.1');
    expect(counter.acquire('10.0.0.1')).toBeNull();
  });

  it('caps connections per handler', () => {
    const counter = new ConnectionCounter(2, 0);
    expect(counter.acquire('a')).toBeNull();
    expect(counter.acquire('b')).toBeNull();
    expect(counter.acquire('c')?.message).toBe('Too many connections: this endpoint allows 2 at a time');
    counter.release('a');
    expect(counter.acquire('c')).toBeNull();
    expect(counter.count()).toBe(2);
  });

  it('counts nothing for a refused or unknown connection', () => {
    const counter = new ConnectionCounter(1, 1);
    counter.acquire('a');
    counter.acquire('a');
    counter.release('b');
    expect([counter.count(), counter.count('a'), counter.count('b')]).toEqual([1, 1, 0]);
    counter.release('a');
    counter.release('a');
    expect(counter.count()).toBe(0);
  });
});

describe('parseLimits', () => {
  const ctx = { path: 'url.chat.kwargs.limits', file: '/app/gramex.yaml' };

  it('returns the defaults when absent and merges given keys over them', () => {
    expect(parseLimits(undefined, ctx)).toEqual({ limits: LIMIT_DEFAULTS, issues: [] });
    expect(parseLimits({ messages_per_second: 0.5, max_connections_per_ip: 0 }, ctx).limits).toEqual({ ...LIMIT_DEFAULTS, messages_per_second: 0.5, max_connections_per_ip: 0 });
  });

  it('reports bad values and unknown keys with their path', () => {
    const { issues } = parseLimits({ burst: 0, max_connections: 1.5, close_after_seconds: 0, message_per_second: 5 }, ctx);
    expect(issues.map((i) => i.path)).toEqual([
      'url.chat.kwargs.limits.message_per_second',
      'url.chat.kwargs.limits.burst',
      'url.chat.kwargs.limits.max_connections',
      'url.chat.kwargs.limits.close_after_seconds',
    ]);
    expect(parseLimits([1], ctx).issues.map((i) => i.path)).toEqual(['url.chat.kwargs.limits']);
  });
});
