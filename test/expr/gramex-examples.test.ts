import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileExpression } from '../../src/expr/index.js';
import { errorOf, makeHandler, MSG_HOOK, OPEN_HOOK } from './support.js';

/** Applies a message_default section the way the core does: each value is an expression, assigned in order. */
function applyDefaults(section: Record<string, string>, msg: Record<string, unknown>, handler: Record<string, unknown>): void {
  for (const [key, source] of Object.entries(section)) {
    msg[key] = compileExpression(source, { ...MSG_HOOK, path: `url.chat.kwargs.message_default.POST.${key}` })({ msg, handler });
  }
}

describe('the MessageHandler documentation examples, translated', () => {
  describe('open', () => {
    it('args.update(recipient=[handler.current_user.id]) → args.recipient = [handler.current_user.id]', () => {
      const args: Record<string, string[]> = {};
      compileExpression('args.recipient = [handler.current_user.id]', OPEN_HOOK)({ args, handler: makeHandler({ id: 'alice' }) });
      expect(args).toEqual({ recipient: ['alice'] });
    });

    it('args.update({"timestamp>~": ["2023-04"]}) → args[\'timestamp>~\'] = [\'2023-04\']', () => {
      const args: Record<string, string[]> = { topic: ['help'] };
      compileExpression("args['timestamp>~'] = ['2023-04']", OPEN_HOOK)({ args, handler: makeHandler() });
      expect(args).toEqual({ topic: ['help'], 'timestamp>~': ['2023-04'] });
    });
  });

  describe('message_default', () => {
    it("computes to: 'all@example.org', length: msg.message.length, session: handler.session.id", () => {
      const msg: Record<string, unknown> = { _method: 'POST', message: 'Hello' };
      applyDefaults({ to: "'all@example.org'", length: 'msg.message.length', session: 'handler.session.id' }, msg, makeHandler());
      expect(msg).toEqual({ _method: 'POST', message: 'Hello', to: 'all@example.org', length: 5, session: 'sess-1' });
    });

    it('writes the built-in user and timestamp defaults in JavaScript', () => {
      const msg: Record<string, unknown> = {};
      applyDefaults({ user: 'handler.current_user ? handler.current_user.id : null', timestamp: 'now()' }, msg, makeHandler({ id: 'bob' }));
      expect(msg.user).toBe('bob');
      expect(msg.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      applyDefaults({ user: 'handler.current_user?.id ?? null' }, msg, makeHandler(null));
      expect(msg.user).toBeNull();
    });
  });

  describe('prepare and modify', () => {
    const prefix = compileExpression("msg._method == 'POST' ? msg.message = 'MSG: ' + msg.message : ''", MSG_HOOK);

    it("msg.update(message='MSG: ' + msg['message']) if msg['_method'] == 'POST' else '' → a ternary with an assignment", () => {
      const post: Record<string, unknown> = { _method: 'POST', message: 'hi' };
      const put: Record<string, unknown> = { _method: 'PUT', message: 'hi' };
      prefix({ msg: post, handler: makeHandler() });
      prefix({ msg: put, handler: makeHandler() });
      expect(post.message).toBe('MSG: hi');
      expect(put.message).toBe('hi');
    });

    it("msg.setdefault('length', len(msg.get('body',''))) → msg.length = msg.length ?? (msg.body ?? '').length", () => {
      const fn = compileExpression("msg.length = msg.length ?? (msg.body ?? '').length", MSG_HOOK);
      const cases: [Record<string, unknown>, number][] = [
        [{ body: 'hello' }, 5],
        [{}, 0],
        [{ body: 'hello', length: 2 }, 2],
        [{ length: 0, body: 'abc' }, 0],
      ];
      for (const [msg, length] of cases) {
        fn({ msg, handler: makeHandler() });
        expect(msg.length).toBe(length);
      }
    });

    it('mymodule.my_prepare(msg, handler) refuses the message when the module raises', async () => {
      const url = pathToFileURL(resolve(import.meta.dirname, '../fixtures/modules/mymodule.js')).href;
      const mymodule = (await import(url)) as Record<string, unknown>;
      const fn = compileExpression('mymodule.my_prepare(msg, handler)', { ...MSG_HOOK, modules: { mymodule } });
      expect(fn({ msg: { topic: 'help' }, handler: makeHandler({ id: 'alice' }) })).toBeUndefined();
      const err = errorOf(() => fn({ msg: { topic: 'help' }, handler: makeHandler({ id: 'mallory' }) }));
      expect(err.code).toBe('MH_ERR_MSG_REJECTED');
      expect(err.message).toBe('You cannot write to help');
      expect(errorOf(() => fn({ msg: { topic: 'help' }, handler: makeHandler(null) })).message).toBe('You cannot write to help');
    });

    it("handler.current_user ? '' : reject('Log in to post') lets users through and refuses anonymous posts", () => {
      const fn = compileExpression("handler.current_user ? '' : reject('Log in to post')", MSG_HOOK);
      expect(fn({ msg: {}, handler: makeHandler() })).toBe('');
      const err = errorOf(() => fn({ msg: {}, handler: makeHandler(null) }));
      expect(err.code).toBe('MH_ERR_MSG_REJECTED');
      expect(err.message).toBe('Log in to post');
    });
  });
});
