import { describe, expect, it } from 'vitest';
import { compileError, evalMsg, runError } from './support.js';

describe('expression helpers', () => {
  it('uuid() returns a fresh RFC 4122 version 4 UUID', () => {
    const [a, b] = evalMsg('[uuid(), uuid()]') as string[];
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
  });

  it('base64url() encodes UTF-8 without padding', () => {
    expect(evalMsg('[base64url("hello?"), base64url("é"), base64url(""), base64url(12)]')).toEqual(['aGVsbG8_', 'w6k', '', 'MTI']);
  });

  it('now() returns the current time as ISO 8601 UTC with Z', () => {
    const before = Date.now();
    const s = evalMsg('now()') as string;
    expect(s).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Date.parse(s)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(s)).toBeLessThanOrEqual(Date.now());
  });

  it('reject() refuses the message with exactly the given text', () => {
    const err = runError('reject("You cannot write to " + msg.topic)', 'MH_ERR_MSG_REJECTED', { topic: 'ops' });
    expect(err.message).toBe('You cannot write to ops');
    expect(err.status).toBe(400);
    expect(runError('reject()', 'MH_ERR_MSG_REJECTED').message).toBe('Message rejected');
  });

  it('Math exposes its functions and constants, converting arguments', () => {
    expect(evalMsg('[Math.max(1, "5", 3), Math.min(), Math.round(2.5), Math.floor(-1.5), Math.abs(-2), Math.PI, Math.E > 2, Math.hypot(3, 4)]')).toEqual([
      5, Infinity, 3, -2, 2, Math.PI, true, 5,
    ]);
    const r = evalMsg('Math.random()') as number;
    expect(r).toBeGreaterThanOrEqual(0);
    expect(r).toBeLessThan(1);
  });

  it('JSON.parse returns fresh writable data and JSON.stringify matches the native output', () => {
    const msg: Record<string, unknown> = { data: { a: [1, 'x', null, true], b: { c: 1.5, d: undefined } } };
    expect(evalMsg('JSON.stringify(msg.data)', msg)).toBe(JSON.stringify(msg.data));
    expect(evalMsg('JSON.stringify(msg.data, null, 2)', msg)).toBe(JSON.stringify(msg.data, null, 2));
    expect(evalMsg('JSON.stringify([undefined, NaN, "é\\n"], null, "--")')).toBe(JSON.stringify([undefined, NaN, 'é\n'], null, '--'));
    expect(evalMsg('[JSON.stringify(undefined), JSON.stringify("s"), JSON.stringify({}), JSON.stringify([])]')).toEqual([undefined, '"s"', '{}', '[]']);
    expect(evalMsg('msg.p = JSON.parse(msg.text); msg.p.list.push(3); msg.p', { text: '{"list":[1,2]}' })).toEqual({ list: [1, 2, 3] });
  });

  it('JSON functions refuse revivers, replacers, bad input and cycles', () => {
    expect(runError('JSON.parse("{")', 'MH_ERR_EXPR_RUNTIME').message).toContain('JSON.parse');
    compileError('JSON.parse("1", x => x)', 'MH_ERR_EXPR_FORBIDDEN');
    runError('JSON.stringify(msg, ["a"])', 'MH_ERR_EXPR_RUNTIME');
    runError('msg.self = msg; JSON.stringify(msg)', 'MH_ERR_EXPR_RUNTIME');
  });

  it('String, Number, Boolean, parseInt, parseFloat, isNaN and isFinite convert as JavaScript does', () => {
    expect(evalMsg('[String(12), String([1, [2, 3]]), String(null), String(), Number("0x10"), Number(""), Number(), Boolean(""), Boolean("0"), parseInt("42px"), parseInt("ff", 16), parseFloat("3.5e2x"), isNaN("abc"), isFinite("12")]')).toEqual([
      '12', '1,2,3', 'null', '', 16, 0, 0, false, true, 42, 255, 350, true, true,
    ]);
  });

  it('Array, Object and Number namespaces expose a small safe set', () => {
    const msg = { o: { a: 1, b: [2] } };
    expect(evalMsg('[Array.isArray(msg.o.b), Array.isArray("x"), Object.keys(msg.o), Object.values(msg.o), Object.entries(msg.o), Object.fromEntries([["k", 1], ["j", 2]]), Number.isInteger(5), Number.isFinite("5"), Number.isNaN(NaN), Number.MAX_SAFE_INTEGER]', msg)).toEqual([
      true, false, ['a', 'b'], [1, [2]], [['a', 1], ['b', [2]]], { k: 1, j: 2 }, true, false, true, Number.MAX_SAFE_INTEGER,
    ]);
  });

  it('Object.fromEntries refuses forbidden keys', () => {
    runError('Object.fromEntries([["__proto__", {}]])', 'MH_ERR_EXPR_FORBIDDEN');
    runError('Object.fromEntries([[["constructor"], 1]])', 'MH_ERR_EXPR_FORBIDDEN');
  });

  it('helpers can only be called, never used as values', () => {
    for (const src of ['uuid', 'msg.f = now', 'Math', 'JSON', 'Math.max', '[Object.keys]', 'x => reject']) {
      compileError(src, 'MH_ERR_EXPR_FORBIDDEN');
    }
  });

  it('only the listed members of a namespace exist', () => {
    for (const src of ['Object.assign({}, msg)', 'Object.defineProperty(msg, "x", {})', 'Object.getPrototypeOf(msg)', 'Array.from("abc")', 'JSON.rawJSON("1")', 'Math.constructor', 'Math[msg.k](1)', 'Number.parseFloat("1")']) {
      compileError(src, 'MH_ERR_EXPR_FORBIDDEN');
    }
  });
});
