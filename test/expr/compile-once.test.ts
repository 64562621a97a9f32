import { describe, expect, it } from 'vitest';
import { compileExpression } from '../../src/expr/index.js';
import { parseCount } from '../../src/expr/parse.js';
import { makeHandler, MSG_HOOK } from './support.js';

describe('compile once, evaluate many times', () => {
  it('parses at compile time only', () => {
    const before = parseCount();
    const fn = compileExpression('msg.id = uuid(); msg.n = (msg.n ?? 0) + 1; msg.tags = msg.tags.map(t => t.trim())', MSG_HOOK);
    expect(parseCount()).toBe(before + 1);
    for (let i = 0; i < 1000; i++) fn({ msg: { tags: [' a '] }, handler: makeHandler() });
    expect(parseCount()).toBe(before + 1);
  });

  it('gives fresh results on every evaluation', () => {
    const fn = compileExpression('msg.id = uuid(); msg.list = [msg.n]; msg.list', MSG_HOOK);
    const a: Record<string, unknown> = { n: 1 };
    const b: Record<string, unknown> = { n: 2 };
    const la = fn({ msg: a, handler: makeHandler() });
    const lb = fn({ msg: b, handler: makeHandler() });
    expect(a.id).not.toBe(b.id);
    expect(la).toEqual([1]);
    expect(lb).toEqual([2]);
    expect(la).not.toBe(lb);
  });

  it('shares nothing mutable between evaluations', () => {
    const fn = compileExpression('msg.o = { xs: [] }; msg.o.xs.push(msg.n); msg.o', MSG_HOOK);
    expect(fn({ msg: { n: 1 }, handler: {} })).toEqual({ xs: [1] });
    expect(fn({ msg: { n: 2 }, handler: {} })).toEqual({ xs: [2] });
  });
});
