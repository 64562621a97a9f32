/**
 * Server-made message ids: Gramex's shape (22 URL-safe characters, 128 bits), time-ordered as text.
 */
import { describe, expect, it } from 'vitest';
import { idTime, newId } from '../../src/pipeline/ids.js';

describe('newId', () => {
  it("has Gramex's shape: 22 URL-safe characters", () => {
    for (let i = 0; i < 1000; i++) expect(newId()).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('sorts as text in the order ids were made, with no repeats, even past 4096 ids in one millisecond', () => {
    const ids = Array.from({ length: 20_000 }, () => newId(1_800_000_000_000));
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    // Real time, across milliseconds.
    const live: string[] = [];
    const until = Date.now() + 5;
    while (Date.now() < until) live.push(newId());
    for (let i = 1; i < live.length; i++) expect(live[i]! > live[i - 1]!).toBe(true);
  });

  it('keeps increasing when the clock steps back', () => {
    const a = newId(Date.now() + 60_000);
    const b = newId(Date.now());
    expect(b > a).toBe(true);
  });

  it('carries the millisecond it was made in, a UUIDv7 version and variant, and random bits', () => {
    // Later than any time an earlier test used (the generator never goes back).
    const now = 1_900_000_000_000;
    const id = newId(now);
    expect(idTime(id)).toBe(now);
    // Characters 9–11 hold bits 48–65: version nibble 7 at bits 48–51, variant 0b10 at bits 64–65.
    const A = '-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';
    const bits = [...id].map((c) => A.indexOf(c).toString(2).padStart(6, '0')).join('');
    expect(bits.slice(48, 52)).toBe('0111');
    expect(bits.slice(64, 66)).toBe('10');
    // Two ids of the same millisecond differ in their random tails, not only in the counter.
    const x = newId(now);
    const tail = (s: string): string => [...s].map((c) => A.indexOf(c).toString(2).padStart(6, '0')).join('').slice(66, 128);
    expect(tail(x)).not.toBe(tail(id));
  });
});
