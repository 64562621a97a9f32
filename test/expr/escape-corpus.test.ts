import { describe, expect, it } from 'vitest';
import { MhError, type MhErrorCode } from '../../src/errors.js';
import { compileExpression, type ExprOptions } from '../../src/expr/index.js';
import { REGEX_INPUT_LIMIT } from '../../src/expr/limits.js';
import { makeHandler, MSG_HOOK } from './support.js';

type Scope = { msg: Record<string, unknown>; handler: Record<string, unknown> };

interface Attempt {
  /** What the attempt tries, as a phrase: "refuses <name>". */
  readonly name: string;
  readonly source: string;
  readonly code: MhErrorCode;
  /** Extra data for the scope (merged into msg). */
  readonly msg?: () => Record<string, unknown>;
  readonly handler?: () => Record<string, unknown>;
  readonly options?: Partial<ExprOptions>;
}

const BIG = 'x'.repeat(1_000_000);
const list = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const clientJson = (text: string) => () => ({ data: JSON.parse(text) as unknown });

let getterCalls = 0;
let setterCalls = 0;

const CORPUS: readonly Attempt[] = [
  // ── constructor chains ──
  { name: "''.constructor.constructor('return process')()", source: "''.constructor.constructor('return process')()", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'a computed constructor of a string', source: 'msg.s[msg.k]', code: 'MH_ERR_EXPR_FORBIDDEN', msg: () => ({ s: '', k: 'constructor' }) },
  { name: "msg['con' + 'structor']", source: "msg['con' + 'structor']", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'a constructor key built from an array', source: 'msg[["constructor"]]', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: '[].map.constructor', source: "[].map.constructor('return process')()", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: "[].map['constructor']", source: "[].map['constructor']", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: '(1).constructor', source: '(1).constructor', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'the constructor of a regex literal', source: '/x/.constructor', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'the constructor of a helper result', source: 'Object.keys(msg).constructor', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'the constructor of a method result', source: '[1].map(x => x).constructor', code: 'MH_ERR_EXPR_FORBIDDEN' },
  // ── calling host functions ──
  { name: "''.sub.call(...)", source: "''.sub.call(null)", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'Function.prototype.apply on a method', source: 'msg.s.trim.apply(msg)', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'bind on an allowlisted method', source: '[].push.bind(msg.list)', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: "Function('return process')()", source: "Function('return process')()", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'new Function(...)', source: "new Function('return process')()", code: 'MH_ERR_EXPR_SYNTAX' },
  { name: "eval('process')", source: "eval('process')", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'globalThis.process', source: 'globalThis.process.exit(1)', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: "process.mainModule.require('child_process')", source: "process.mainModule.require('child_process')", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: "require('fs')", source: "require('fs').readFileSync('/etc/passwd')", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: "import('fs')", source: "import('fs')", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'Reflect, Proxy and Symbol', source: 'Reflect.ownKeys(Proxy, Symbol)', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'timers', source: 'setTimeout(x => x, 0)', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'an optional call of a method value', source: 'msg.s.trim?.()', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'calling an immediately defined arrow', source: '(() => 1)()', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'valueOf on a string', source: 'msg.s.valueOf()', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'toString of a method', source: 'msg.n.toString.call(1)', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'calling a method stored in data', source: 'handler.logout()', code: 'MH_ERR_EXPR_FORBIDDEN', handler: () => ({ ...makeHandler(), logout: () => 'host' }) },
  { name: 'reading a function stored in data', source: "'' + { toString: handler.logout }", code: 'MH_ERR_EXPR_FORBIDDEN', handler: () => ({ ...makeHandler(), logout: () => 'host' }) },
  // ── this / arguments / arrow tricks ──
  { name: 'this', source: 'this.constructor', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'this inside an arrow', source: '[1].map(x => this)', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'arguments inside an arrow', source: '[1].map(x => arguments)', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'a function expression', source: '[1].map(function () { return this })', code: 'MH_ERR_EXPR_SYNTAX' },
  { name: 'an async arrow', source: 'async () => process', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'an arrow stored as a value', source: 'msg.f = x => x', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'an arrow inside an array literal', source: '[x => x][0]', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'an arrow pushed into data', source: 'msg.list.push(x => x)', code: 'MH_ERR_EXPR_FORBIDDEN', msg: () => ({ list: [] }) },
  { name: 'an arrow as a replace function', source: "msg.s.replace(/a/, x => 'b')", code: 'MH_ERR_EXPR_FORBIDDEN', msg: () => ({ s: 'a' }) },
  { name: 'a helper stored as a value', source: 'msg.f = JSON.parse', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'a module function stored as a value', source: 'msg.f = mymodule.sum', code: 'MH_ERR_EXPR_FORBIDDEN', options: { modules: { mymodule: { sum: (a: number, b: number) => a + b } } } },
  // ── prototype pollution ──
  { name: '__proto__ writes', source: 'msg.__proto__.polluted = 1', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: "msg['__proto__']['polluted']", source: "msg['__proto__']['polluted'] = 1", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'a computed __proto__ write', source: 'msg[msg.k].polluted = 1', code: 'MH_ERR_EXPR_FORBIDDEN', msg: () => ({ k: '__proto__' }) },
  { name: '__proto__ paths walked in a callback', source: 'msg.paths.forEach(p => msg[p].polluted = true)', code: 'MH_ERR_EXPR_FORBIDDEN', msg: () => ({ paths: ['__proto__'] }) },
  { name: 'Object.prototype writes', source: 'Object.prototype.polluted = 1', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'Array.prototype through a literal', source: '[].__proto__.push = 1', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'String.prototype through a computed chain', source: 'msg.s[msg.p][msg.m] = 1', code: 'MH_ERR_EXPR_FORBIDDEN', msg: () => ({ s: '', p: '__proto__', m: 'trim' }) },
  { name: 'String.prototype through the String helper', source: 'String.prototype.trim = 1', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'constructor.prototype of data', source: 'msg.list.constructor.prototype.map = 1', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'Object.assign onto a prototype', source: 'Object.assign(Object.prototype, { polluted: 1 })', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'a literal __proto__ key', source: '({ __proto__: { polluted: 1 } })', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'a computed __proto__ key', source: "({ ['__proto__']: { polluted: 1 } })", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: "JSON.parse('{\"__proto__\": …}')", source: 'msg.o = JSON.parse(\'{"__proto__": {"polluted": 1}}\')', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'a JSON.parse payload spread into an object', source: '({ ...JSON.parse(msg.payload) })', code: 'MH_ERR_EXPR_FORBIDDEN', msg: () => ({ payload: '{"__proto__": {"polluted": 1}}' }) },
  { name: 'a client __proto__ key spread into an object', source: '({ ...msg.data })', code: 'MH_ERR_EXPR_FORBIDDEN', msg: clientJson('{"__proto__": {"polluted": true}}') },
  { name: 'a client __proto__ key assigned through', source: 'msg.data.__proto__.polluted = 1', code: 'MH_ERR_EXPR_FORBIDDEN', msg: clientJson('{"__proto__": {}}') },
  { name: 'Object.fromEntries with __proto__', source: "Object.fromEntries([['__proto__', { polluted: 1 }]])", code: 'MH_ERR_EXPR_FORBIDDEN' },
  // ── getters, setters and definers ──
  { name: '__defineGetter__', source: "msg.__defineGetter__('x', () => process)", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: '__lookupGetter__', source: "msg.__lookupGetter__('__proto__')", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'Object.defineProperty', source: "Object.defineProperty(msg, 'x', { value: 1 })", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'a getter in an object literal', source: '({ get x() { return process } })', code: 'MH_ERR_EXPR_SYNTAX' },
  {
    name: 'running a getter of a scope object',
    source: 'handler.secret',
    code: 'MH_ERR_EXPR_FORBIDDEN',
    handler: () => Object.defineProperty(makeHandler(), 'secret', { get: () => ++getterCalls, enumerable: true }),
  },
  {
    name: 'running a getter through JSON.stringify',
    source: 'JSON.stringify(handler)',
    code: 'MH_ERR_EXPR_FORBIDDEN',
    handler: () => Object.defineProperty(makeHandler(), 'secret', { get: () => ++getterCalls, enumerable: true }),
  },
  {
    name: 'running a setter of a scope object',
    source: 'msg.trap = 1',
    code: 'MH_ERR_EXPR_FORBIDDEN',
    msg: () => Object.defineProperty({}, 'trap', { set: () => void ++setterCalls, enumerable: true }),
  },
  // ── coercion and template tricks ──
  { name: 'toString through an object literal', source: "'' + { toString: x => process }", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'valueOf through an object literal', source: '1 + { valueOf: uuid }', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'a constructor inside a template', source: '`${msg.s.constructor}`', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'a tagged template', source: 'String.raw`x`', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'a key that converts to __proto__', source: 'msg[{ toString: x => "__proto__" }]', code: 'MH_ERR_EXPR_FORBIDDEN' },
  // ── read-only roots ──
  { name: 'writing to handler', source: "handler.current_user.id = 'root'", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'writing to a copy of handler data', source: "[handler.current_user][0].id = 'root'", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'writing through an object that wraps handler', source: "({ h: handler }).h.current_user.id = 'root'", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'writing through a shorthand property that holds handler', source: "({ handler }).handler.current_user.id = 'root'", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'mutating handler.args', source: "[handler.args.topic][0].push('x')", code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'mutating handler data reached through Object.values', source: 'Object.values({ a: handler.session })[0].id = 1', code: 'MH_ERR_EXPR_FORBIDDEN' },
  { name: 'replacing msg itself', source: 'msg = {}', code: 'MH_ERR_EXPR_FORBIDDEN' },
  // ── denial of service ──
  { name: "'x'.repeat(2 ** 30)", source: "'x'.repeat(2 ** 30)", code: 'MH_ERR_EXPR_BUDGET' },
  { name: "''.padStart(2 ** 30, 'ab')", source: "''.padStart(2 ** 30, 'ab')", code: 'MH_ERR_EXPR_BUDGET' },
  { name: 'join of many big strings', source: 'msg.list.map(x => msg.big).join()', code: 'MH_ERR_EXPR_BUDGET', msg: () => ({ list: list(50), big: BIG }) },
  { name: 'concat doubling', source: 'msg.list.reduce(a => a.concat(a), [1])', code: 'MH_ERR_EXPR_BUDGET', msg: () => ({ list: list(40) }) },
  { name: 'spread doubling', source: 'msg.list.reduce(a => [...a, ...a], [1])', code: 'MH_ERR_EXPR_BUDGET', msg: () => ({ list: list(40) }) },
  { name: 'template doubling', source: 'msg.list.reduce(a => `${a}${a}`, "x")', code: 'MH_ERR_EXPR_BUDGET', msg: () => ({ list: list(40) }) },
  { name: 'an infinite-ish nested reduce', source: 'msg.list.reduce((a, x) => msg.list.reduce((b, y) => b + x * y, a), 0)', code: 'MH_ERR_EXPR_BUDGET', msg: () => ({ list: list(1000) }) },
  { name: 'nested maps', source: 'msg.list.map(x => msg.list.map(y => msg.list.map(z => 1)))', code: 'MH_ERR_EXPR_BUDGET', msg: () => ({ list: list(100) }) },
  { name: 'deeply nested parentheses', source: `${'('.repeat(5000)}1${')'.repeat(5000)}`, code: 'MH_ERR_EXPR_BUDGET' },
  { name: 'deeply nested array literals', source: `${'['.repeat(5000)}${']'.repeat(5000)}`, code: 'MH_ERR_EXPR_BUDGET' },
  { name: 'a very long operator chain', source: Array(20_000).fill('1').join('+'), code: 'MH_ERR_EXPR_BUDGET' },
  { name: 'a source beyond the length limit', source: `'${'a'.repeat(70_000)}'`, code: 'MH_ERR_EXPR_BUDGET' },
  {
    name: 'serializing deeply nested data',
    source: 'JSON.stringify(msg.deep)',
    code: 'MH_ERR_EXPR_BUDGET',
    msg: () => {
      let deep: unknown = 0;
      for (let i = 0; i < 200_000; i++) deep = [deep];
      return { deep };
    },
  },
  { name: 'growing an array through length', source: 'msg.list.length = 1e9', code: 'MH_ERR_EXPR_RUNTIME', msg: () => ({ list: [] }) },
  { name: 'a far index write', source: 'msg.list[4294967294] = 1', code: 'MH_ERR_EXPR_BUDGET', msg: () => ({ list: [] }) },
  { name: 'splitting a huge string into characters', source: "msg.big.split('')", code: 'MH_ERR_EXPR_BUDGET', msg: () => ({ big: BIG }) },
  { name: 'spreading a huge string into an object', source: '({ ...msg.big })', code: 'MH_ERR_EXPR_BUDGET', msg: () => ({ big: BIG }) },
  { name: 'spreading a huge string into arguments', source: 'Math.max(...msg.big)', code: 'MH_ERR_EXPR_BUDGET', msg: () => ({ big: BIG }) },
  { name: 'flat with infinite depth', source: 'msg.list.flat(Infinity)', code: 'MH_ERR_EXPR_RUNTIME', msg: () => ({ list: [[[1]]] }) },
  { name: 'a nested-quantifier regex', source: '/(a+)+$/.test(msg.s)', code: 'MH_ERR_EXPR_FORBIDDEN', msg: () => ({ s: `${'a'.repeat(40)}!` }) },
  { name: 'an overlapping-alternation regex', source: '/^(a|aa)+$/.test(msg.s)', code: 'MH_ERR_EXPR_FORBIDDEN', msg: () => ({ s: `${'a'.repeat(40)}!` }) },
  { name: 'a regex built from message data', source: 'msg.s.match(msg.pattern)', code: 'MH_ERR_EXPR_FORBIDDEN', msg: () => ({ s: 'aaaa!', pattern: '(a+)+$' }) },
  { name: 'a quadratic regex on a huge input', source: '/\\s+$/.test(msg.s)', code: 'MH_ERR_EXPR_BUDGET', msg: () => ({ s: `${' '.repeat(REGEX_INPUT_LIMIT * 10)}x` }) },
  { name: 'replacement growth through $ patterns', source: "msg.s.replace(/a/g, '$`$`$`')", code: 'MH_ERR_EXPR_BUDGET', msg: () => ({ s: 'a'.repeat(5000) }) },
];

/** Own keys and descriptors of an object, read without running any getter. */
function shape(o: object): Map<PropertyKey, unknown[]> {
  const out = new Map<PropertyKey, unknown[]>();
  for (const key of Reflect.ownKeys(o)) {
    const d = Object.getOwnPropertyDescriptor(o, key)!;
    out.set(key, [d.value, d.get, d.set, d.writable, d.enumerable, d.configurable]);
  }
  return out;
}

/** A structural fingerprint of scope data that never runs a getter (iterative: some attempts nest deeply). */
function fingerprint(root: unknown): string[] {
  const out: string[] = [];
  const seen = new Set<unknown>();
  const stack: [number, string, unknown][] = [[0, '$', root]];
  while (stack.length > 0) {
    const [depth, key, v] = stack.pop()!;
    const at = `${depth}/${key}`;
    if (typeof v !== 'object' || v === null) {
      out.push(`${at}=${typeof v === 'function' ? 'fn' : typeof v === 'string' ? `s${v.length}:${v.slice(0, 32)}` : String(v)}`);
      continue;
    }
    if (seen.has(v)) {
      out.push(`${at}=cycle`);
      continue;
    }
    seen.add(v);
    out.push(`${at}=${Array.isArray(v) ? 'array' : 'object'}`);
    for (const k of Reflect.ownKeys(v)) {
      const d = Object.getOwnPropertyDescriptor(v, k)!;
      if ('value' in d) stack.push([depth + 1, String(k), d.value]);
      else out.push(`${depth + 1}/${String(k)}=accessor`);
    }
  }
  return out;
}

const PROTOTYPES: readonly object[] = [Object.prototype, Array.prototype, String.prototype, Number.prototype, Boolean.prototype, Function.prototype, RegExp.prototype, Promise.prototype];

describe('sandbox escape and denial-of-service corpus', () => {
  it('holds at least fifty attempts', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(50);
  });

  it.each(CORPUS)('refuses $name', (attempt) => {
    // Descriptors are copied so that accessors in an attempt's data stay accessors.
    const msg = Object.defineProperties({ s: 'abc', n: 1, list: [1, 2] }, Object.getOwnPropertyDescriptors(attempt.msg?.() ?? {}));
    const scope: Scope = {
      msg,
      handler: attempt.handler?.() ?? makeHandler(),
    };
    const protos = PROTOTYPES.map(shape);
    const globals = Reflect.ownKeys(globalThis);
    const before = [fingerprint(scope.msg), fingerprint(scope.handler)];
    const calls = [getterCalls, setterCalls];

    const start = performance.now();
    let caught: unknown;
    try {
      compileExpression(attempt.source, { ...MSG_HOOK, ...attempt.options })(scope);
    } catch (err) {
      caught = err;
    }
    const elapsed = performance.now() - start;

    expect(caught).toBeInstanceOf(MhError);
    expect((caught as MhError).code).toBe(attempt.code);
    expect(elapsed).toBeLessThan(2000);
    expect(PROTOTYPES.map(shape)).toEqual(protos);
    expect(Reflect.ownKeys(globalThis)).toEqual(globals);
    expect([fingerprint(scope.msg), fingerprint(scope.handler)]).toEqual(before);
    expect([getterCalls, setterCalls]).toEqual(calls);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // The sandbox is still usable afterwards.
    expect(compileExpression('msg.n + 1', MSG_HOOK)({ msg: { n: 1 } })).toBe(2);
  });
});
