import { describe, expect, it } from 'vitest';
import { compileExpression } from '../../src/expr/index.js';
import { compileError, errorOf, evalMsg, makeHandler, MSG_HOOK, OPEN_HOOK, runError } from './support.js';

describe('expression scope', () => {
  describe('per hook', () => {
    it('gives open: args (writable) and handler (read-only)', () => {
      const handler = makeHandler({ id: 'bob' });
      const args: Record<string, string[]> = { topic: ['x'] };
      compileExpression('args.recipient = [handler.current_user.id]', OPEN_HOOK)({ args, handler });
      expect(args).toEqual({ topic: ['x'], recipient: ['bob'] });
      expect(compileError('handler.args.x = 1', 'MH_ERR_EXPR_FORBIDDEN', OPEN_HOOK).message).toContain('"handler"');
    });

    it('refuses msg in open and args in message hooks at compile time', () => {
      expect(compileError('msg.x = 1', 'MH_ERR_EXPR_FORBIDDEN', OPEN_HOOK).message).toContain('"msg"');
      expect(compileError('args.x = 1', 'MH_ERR_EXPR_FORBIDDEN').message).toContain('"args"');
    });

    it('gives message hooks msg (writable) and handler (read-only)', () => {
      const msg: Record<string, unknown> = {};
      evalMsg('msg.who = handler.current_user.id; msg.ip = handler.request.ip; msg.name = handler.name', msg);
      expect(msg).toEqual({ who: 'alice', ip: '127.0.0.1', name: 'chat' });
      expect(compileError('handler.name = "x"', 'MH_ERR_EXPR_FORBIDDEN').message).toContain('read-only');
    });

    it('lets a name be readable without being writable', () => {
      const fn = compileExpression('ctx.a + 1', { path: 'p', names: ['ctx'], writable: [] });
      expect(fn({ ctx: { a: 1 } })).toBe(2);
      expect(errorOf(() => compileExpression('ctx.a = 1', { path: 'p', names: ['ctx'], writable: [] })).code).toBe('MH_ERR_EXPR_FORBIDDEN');
    });

    it('reads a scope name missing from the scope object as undefined', () => {
      expect(compileExpression('handler === undefined', MSG_HOOK)({ msg: {} })).toBe(true);
    });
  });

  describe('reads', () => {
    it('see own data properties only, never inherited ones', () => {
      const msg = Object.create({ inherited: 'secret' }) as Record<string, unknown>;
      msg.own = 1;
      expect(evalMsg('[msg.own, msg.inherited, msg.toString, msg.hasOwnProperty, [].map]', msg)).toEqual([1, undefined, undefined, undefined, undefined]);
    });

    it('never run a getter on a scope object', () => {
      let calls = 0;
      const msg = {};
      Object.defineProperty(msg, 'secret', { get: () => ++calls, enumerable: true });
      expect(runError('msg.secret', 'MH_ERR_EXPR_FORBIDDEN', msg).message).toContain('accessor');
      runError('JSON.stringify(msg)', 'MH_ERR_EXPR_FORBIDDEN', msg);
      runError('({...msg})', 'MH_ERR_EXPR_FORBIDDEN', msg);
      expect(calls).toBe(0);
    });

    it('never hand out a function found in data', () => {
      const handler = { ...makeHandler(), logout: () => 'gone' };
      const fn = compileExpression('handler.logout', MSG_HOOK);
      expect(errorOf(() => fn({ msg: {}, handler })).code).toBe('MH_ERR_EXPR_FORBIDDEN');
    });
  });

  describe('read-only values', () => {
    it('are copied when stored, so the handler cannot be changed through msg', () => {
      const handler = makeHandler();
      const fn = compileExpression('msg.u = handler.current_user; msg.u.id = "mallory"', MSG_HOOK);
      const msg: Record<string, unknown> = {};
      expect(errorOf(() => fn({ msg, handler })).code).toBe('MH_ERR_EXPR_FORBIDDEN');
      expect(handler.current_user).toEqual({ id: 'alice' });
      expect(msg.u).toEqual({ id: 'alice' });
      expect(msg.u).not.toBe(handler.current_user);
    });

    it('stay read-only in a later evaluation', () => {
      const handler = makeHandler();
      const msg: Record<string, unknown> = {};
      compileExpression('msg.args = handler.args', MSG_HOOK)({ msg, handler });
      const later = compileExpression('msg.args.topic.push("evil")', MSG_HOOK);
      expect(errorOf(() => later({ msg, handler })).code).toBe('MH_ERR_EXPR_FORBIDDEN');
      expect(handler.args).toEqual({ topic: ['help'] });
    });

    it('become writable through a spread copy', () => {
      const handler = makeHandler();
      const msg: Record<string, unknown> = {};
      evalMsg('msg.u = { ...handler.current_user, role: "guest" }; msg.u.id = "x"', msg, {}, handler);
      expect(msg.u).toEqual({ id: 'x', role: 'guest' });
      expect(handler.current_user).toEqual({ id: 'alice' });
    });

    it('are the same copy within one evaluation', () => {
      expect(evalMsg('[handler.session, handler.session].every(s => s === handler.session)')).toBe(true);
      expect(evalMsg('msg.a = handler.session; msg.b = handler.session; msg.a === msg.b')).toBe(true);
    });

    it('can be compared and inspected without a copy', () => {
      const handler = makeHandler();
      const fn = compileExpression('handler.current_user === handler.current_user && handler.args.topic.includes("help")', MSG_HOOK);
      expect(fn({ msg: {}, handler })).toBe(true);
    });

    it('refuse mutating methods at compile time when the root is read-only', () => {
      expect(compileError('handler.args.topic.push("x")', 'MH_ERR_EXPR_FORBIDDEN').message).toContain('"push"');
      expect(compileError('handler.args.topic.sort()', 'MH_ERR_EXPR_FORBIDDEN').message).toContain('"sort"');
    });
  });

  describe('writes', () => {
    it('refuse the root itself, whatever the operator', () => {
      for (const src of ['msg = 1', 'msg += 1', 'msg++', 'handler = 1', 'x = 1']) {
        expect(errorOf(() => compileExpression(src, MSG_HOOK)).code).toBe('MH_ERR_EXPR_FORBIDDEN');
      }
    });

    it('refuse helpers and their members', () => {
      compileError('Math.PI = 3', 'MH_ERR_EXPR_FORBIDDEN');
      compileError('JSON.parse = 1', 'MH_ERR_EXPR_FORBIDDEN');
    });

    it('refuse a frozen or sealed object in msg at run time', () => {
      const msg = { frozen: Object.freeze({ a: 1 }), sealed: Object.seal({ a: 1 }) };
      runError('msg.frozen.a = 2', 'MH_ERR_EXPR_FORBIDDEN', msg);
      runError('msg.sealed.b = 2', 'MH_ERR_EXPR_FORBIDDEN', msg);
      expect(msg.frozen).toEqual({ a: 1 });
    });

    it('never run a setter', () => {
      let calls = 0;
      const msg = {};
      Object.defineProperty(msg, 'x', { set: () => void calls++, get: () => 0 });
      runError('msg.x = 1', 'MH_ERR_EXPR_FORBIDDEN', msg);
      expect(calls).toBe(0);
    });

    it('refuse setting a member of a primitive', () => {
      expect(runError('msg.s.x = 1', 'MH_ERR_EXPR_RUNTIME', { s: 'text' }).message).toContain('cannot set "x" on a string');
      runError('msg.none.x = 1', 'MH_ERR_EXPR_RUNTIME');
    });

    it('let an array length shrink but not grow', () => {
      const msg = { xs: [1, 2, 3] };
      evalMsg('msg.xs.length = 1', msg);
      expect(msg.xs).toEqual([1]);
      runError('msg.xs.length = 5', 'MH_ERR_EXPR_RUNTIME', msg);
    });
  });
});
