import { describe, expect, it } from 'vitest';
import { compileExpression } from '../../src/expr/index.js';
import { errorOf, evalMsg, MSG_HOOK } from './support.js';

/** Milliseconds `f` takes. */
function ms(f: () => unknown): number {
  const start = performance.now();
  f();
  return performance.now() - start;
}

const MIB = 1 << 20;
const BIG = 'x'.repeat(MIB);
const BIG_Y = 'x'.repeat(MIB - 1) + 'y'; // same length, differs at the end: a full comparison
const SPACES = ' '.repeat(MIB - 1) + 'x';
/** 64 KiB: the largest body the default max_message_bytes lets through. */
const BODY = 'lorem ipsum dolor '.repeat(3641).slice(0, 65_536);

/** The evaluation of `source` fails with MH_ERR_EXPR_BUDGET, quickly. */
function stopped(source: string, msg: Record<string, unknown>): void {
  const fn = compileExpression(source, MSG_HOOK);
  let code: string | undefined;
  const t = ms(() => {
    code = errorOf(() => fn({ msg })).code;
  });
  expect(code, source).toBe('MH_ERR_EXPR_BUDGET');
  expect(t, source).toBeLessThan(200);
}

describe('the step budget counts work, not calls (issue 14, item 12)', () => {
  const xs = new Array(2000).fill(0);

  it("stops the issue's 1 MiB indexOf / includes / trim / == loop", () => {
    stopped("msg.xs.map(x => msg.s.indexOf('y'))", { s: BIG, xs });
    stopped("msg.xs.map(x => msg.s.includes('y'))", { s: BIG, xs });
    stopped('msg.xs.map(x => msg.s.trim())', { s: SPACES, xs });
    stopped('msg.xs.map(x => msg.s == msg.t)', { s: BIG, t: BIG_Y, xs: xs.slice(0, 1000) });
    stopped('msg.xs.map(x => msg.s === msg.t)', { s: BIG, t: BIG_Y, xs: xs.slice(0, 1000) });
    stopped('msg.xs.map(x => msg.s < msg.t)', { s: BIG, t: BIG_Y, xs: xs.slice(0, 1000) });
  });

  it('charges the other string work by length', () => {
    const s = BIG.slice(0, MIB / 2);
    for (const source of [
      'msg.xs.map(x => msg.s.lastIndexOf(msg.t))',
      'msg.xs.map(x => msg.s.startsWith(msg.s))',
      'msg.xs.map(x => msg.s.slice(1).length)',
      'msg.xs.map(x => msg.s.toLowerCase().length)',
      'msg.xs.map(x => (msg.s + x).length)',
      'msg.xs.map(x => `${msg.s}${x}`.length)',
      'msg.xs.map(x => msg.s.split("y").length)',
      'msg.xs.map(x => msg.s.replace("y", "z").length)',
      'msg.xs.map(x => Number(msg.s))',
      'msg.xs.map(x => parseFloat(msg.s))',
      'msg.xs.map(x => base64url(msg.s).length)',
      'msg.xs.map(x => JSON.stringify(msg.s).length)',
      'msg.xs.map(x => JSON.parse(msg.j).length)',
      'msg.xs.map(x => msg.o[msg.s])',
      'msg.xs.map(x => [msg.t].includes(msg.s))',
    ]) {
      stopped(source, { s, t: s.slice(0, -1) + 'y', j: JSON.stringify(s), o: {}, xs });
    }
  });

  it('runs the documented expressions on the largest default message', () => {
    const msg = { body: BODY, _method: 'POST', message: BODY };
    expect(evalMsg("msg.length = (msg.body ?? '').length", msg)).toBe(65_536);
    expect(evalMsg("msg.length = msg.length ?? (msg.body ?? '').length", { ...msg })).toBe(65_536);
    expect(errorOf(() => evalMsg("msg.body.length > 500 ? reject('Too long') : ''", msg)).code).toBe('MH_ERR_MSG_REJECTED');
    expect(evalMsg('msg.body = msg.body.toUpperCase()', { ...msg })).toBe(BODY.toUpperCase());
    expect(evalMsg("msg._method == 'POST' ? msg.message = 'MSG: ' + msg.message : ''", { ...msg })).toBe('MSG: ' + BODY);
    expect(evalMsg("msg.body.trim().toLowerCase().includes('spam') ? reject('spam') : msg.body.length", msg)).toBe(65_536);
    expect(evalMsg("msg.body.replace(/\\s+/g, ' ').length", { body: BODY.slice(0, 20_000) })).toBe(20_000);
    expect(evalMsg('msg.body.trimEnd().length', msg)).toBe(BODY.trimEnd().length);
    expect(evalMsg('JSON.parse(JSON.stringify(msg)).body.length', msg)).toBe(65_536);
  });

  it('keeps the charge an integer add: short strings cost only their node steps', () => {
    const fn = compileExpression("msg.s.indexOf('b') + msg.s.trim().length + (msg.s == 'abc')", { ...MSG_HOOK, limits: { steps: 14 } }); // exactly its 14 nodes
    for (let i = 0; i < 1000; i++) expect(fn({ msg: { s: 'abc' } })).toBe(5);
  });
});
