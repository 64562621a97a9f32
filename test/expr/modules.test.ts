import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MhError } from '../../src/errors.js';
import { compileExpression, type ExprOptions } from '../../src/expr/index.js';
import { compileError, errorOf, makeHandler, MSG_HOOK, rejectionOf } from './support.js';

type Mod = Record<string, unknown> & { calls: string[]; settings: { limit: number; tags: string[] } };
let mymodule: Mod;
let options: ExprOptions;

beforeAll(async () => {
  const url = pathToFileURL(resolve(import.meta.dirname, '../fixtures/modules/mymodule.js')).href;
  mymodule = (await import(url)) as Mod;
  options = { ...MSG_HOOK, modules: { mymodule } };
});

beforeEach(() => {
  mymodule.calls.length = 0;
});

const run = (src: string, msg: Record<string, unknown> = {}, handler = makeHandler()): unknown =>
  compileExpression(src, options)({ msg, handler });

describe('module functions', () => {
  describe('called synchronously', () => {
    it('return their value without a Promise', () => {
      const result = run('mymodule.sum(1, 2, ...msg.more)', { more: [3, 4] });
      expect(result).not.toBeInstanceOf(Promise);
      expect(result).toBe(10);
    });

    it('receive the real scope objects', () => {
      const msg = {};
      const handler = makeHandler();
      expect(compileExpression('mymodule.sameObject(msg, msg) && mymodule.sameObject(handler.current_user, handler.current_user)', options)({ msg, handler })).toBe(true);
      let seen: unknown;
      compileExpression('mymodule.capture(handler)', { ...MSG_HOOK, modules: { mymodule: { capture: (h: unknown) => (seen = h) } } })({ msg, handler });
      expect(seen).toBe(handler);
    });

    it('receive regex literals as fresh RegExp objects', () => {
      expect(run('mymodule.describeRegex(/a+b/gi)')).toBe('a+b/gi');
    });

    it('can be nested in a namespace of the module', () => {
      expect(run('mymodule.tools.shout(msg.s)', { s: 'hi' })).toBe('HI!');
    });

    it('refuse the message when they throw, with the error message', () => {
      const err = errorOf(() => run('mymodule.my_prepare(msg, handler)', { topic: 'ops' }));
      expect(err.code).toBe('MH_ERR_MSG_REJECTED');
      expect(err.message).toBe('You cannot write to ops');
      expect(run('mymodule.my_prepare(msg, handler)', { topic: 'help' })).toBeUndefined();
      expect(errorOf(() => run('mymodule.throwString()')).message).toBe('plain string');
    });

    it('pass an MhError they throw through unchanged', () => {
      const mine = new MhError('MH_ERR_MSG_FORBIDDEN', [], { message: 'not yours' });
      const fn = compileExpression('strict.refuse()', { ...MSG_HOOK, modules: { strict: { refuse: () => { throw mine; } } } });
      expect(errorOf(() => fn({ msg: {}, handler: {} }))).toBe(mine);
    });

    it('may not hand a function back to the expression', () => {
      expect(errorOf(() => run('msg.f = mymodule.makeFunction()')).code).toBe('MH_ERR_EXPR_FORBIDDEN');
    });
  });

  describe('called asynchronously', () => {
    it('make the evaluation return a Promise of the value', async () => {
      const msg: Record<string, unknown> = { id: 'u7' };
      const result = run('msg.user = mymodule.fetchUser(msg.id); msg.greeting = "Hi " + msg.user.name', msg);
      expect(result).toBeInstanceOf(Promise);
      await expect(result).resolves.toBe('Hi User u7');
      expect(msg).toEqual({ id: 'u7', user: { id: 'u7', name: 'User u7' }, greeting: 'Hi User u7' });
    });

    it('are awaited at each statement boundary, keeping side effects in order', async () => {
      await run('mymodule.later("first"); mymodule.record("second"); mymodule.later("third"); mymodule.record("fourth")');
      expect(mymodule.calls).toEqual(['first', 'second', 'third', 'fourth']);
    });

    it('are awaited operand by operand inside one statement', async () => {
      await expect(run('[mymodule.later("a"), mymodule.record("b")]')).resolves.toEqual(['a', 'b']);
      expect(mymodule.calls).toEqual(['a', 'b']);
    });

    it('adopt any thenable a module returns', async () => {
      await expect(run('mymodule.thenable() + 1')).resolves.toBe(43);
    });

    it('refuse the message when they reject', async () => {
      const err = await rejectionOf(run('mymodule.refuseLater("closed for today"); mymodule.record("never")'));
      expect(err.code).toBe('MH_ERR_MSG_REJECTED');
      expect(err.message).toBe('closed for today');
      expect(mymodule.calls).toEqual([]);
    });

    it('turn later sandbox errors into rejections with their code', async () => {
      const err = await rejectionOf(run('mymodule.fetchUser(1); msg.x.y.z'));
      expect(err.code).toBe('MH_ERR_EXPR_RUNTIME');
      expect(err.path).toBe(MSG_HOOK.path);
    });

    it('are refused inside an arrow function, where the value is needed at once', () => {
      const err = errorOf(() => run('msg.ids.map(id => mymodule.fetchUser(id))', { ids: [1] }));
      expect(err.code).toBe('MH_ERR_EXPR_RUNTIME');
      expect(err.message).toContain('inside an arrow function');
      expect(run('msg.xs.map(x => mymodule.sum(x, 1))', { xs: [1, 2] })).toEqual([2, 3]);
    });
  });

  describe('resolution', () => {
    it('fails at compile time for a function the module does not export', () => {
      expect(compileError('mymodule.my_prepar(msg, handler)', 'MH_ERR_EXPR_FORBIDDEN', options).message).toContain('mymodule.my_prepar');
      compileError('nomodule.fn()', 'MH_ERR_EXPR_FORBIDDEN', options);
      compileError('mymodule.settings()', 'MH_ERR_EXPR_FORBIDDEN', options);
    });

    it('refuses a module or its functions as values and calls by computed name', () => {
      for (const src of ['mymodule', 'msg.f = mymodule.sum', 'mymodule[msg.name]()', 'mymodule.sum.call(null, 1)', 'mymodule.constructor', 'mymodule?.sum(1)']) {
        compileError(src, 'MH_ERR_EXPR_FORBIDDEN', options);
      }
    });

    it('reads module data as read-only copies', () => {
      const msg: Record<string, unknown> = {};
      expect(run('msg.limit = mymodule.settings.limit; msg.tags = mymodule.settings.tags; msg.tags.length', msg)).toBe(2);
      expect(errorOf(() => run('msg.tags.push("c")', msg)).code).toBe('MH_ERR_EXPR_FORBIDDEN');
      compileError('mymodule.settings.limit = 99', 'MH_ERR_EXPR_FORBIDDEN', options);
      compileError('mymodule.settings.tags.push("c")', 'MH_ERR_EXPR_FORBIDDEN', options);
      expect(mymodule.settings).toEqual({ limit: 3, tags: ['a', 'b'] });
    });

    it('lets a scope name shadow a module of the same name', () => {
      const fn = compileExpression('mymodule.x', { path: 'p', names: ['mymodule'], writable: [], modules: { mymodule } });
      expect(fn({ mymodule: { x: 1 } })).toBe(1);
    });
  });
});
