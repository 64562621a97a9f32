import { describe, expect, it } from 'vitest';
import type { UrlEntry } from '../../src/config/load.js';
import { analysePattern, compileRoutes, sortRoutes, validatePattern } from '../../src/http/router.js';

function entry(name: string, pattern: string, priority = 0): UrlEntry {
  return { name, pattern, handler: 'FileHandler', kwargs: {}, priority, path: `url.${name}`, file: '/g.yaml', yamlPath: '/', yamlUrl: '' };
}

function names(entries: readonly UrlEntry[]): string[] {
  return entries.map((e) => e.name);
}

describe('compileRoutes', () => {
  describe('#match', () => {
    it('matches an exact path only as a whole', () => {
      const router = compileRoutes([entry('chat', '/chat')]);
      expect(router.match('/chat')?.entry.name).toBe('chat');
      expect(router.match('/chat/x')).toBeNull();
      expect(router.match('/chatx')).toBeNull();
      expect(router.match('/x/chat')).toBeNull();
    });

    it('anchors both ends even around an alternation', () => {
      const router = compileRoutes([entry('ab', '/a|/b')]);
      expect(router.match('/a')).not.toBeNull();
      expect(router.match('/b')).not.toBeNull();
      expect(router.match('/a/x')).toBeNull();
      expect(router.match('/x/b')).toBeNull();
    });

    it('accepts patterns that already carry ^ and $ anchors', () => {
      const router = compileRoutes([entry('api', '^/api/(\\d+)$')]);
      expect(router.match('/api/42')).toEqual({ entry: expect.objectContaining({ name: 'api' }), groups: ['42'] });
      expect(router.match('/api/x')).toBeNull();
    });

    it('returns capture groups percent-decoded, with "" for a group that did not take part', () => {
      const router = compileRoutes([entry('files', '/files/(a)?(.*)')]);
      expect(router.match('/files/caf%C3%A9%20menu.txt')?.groups).toEqual(['', 'café menu.txt']);
    });

    it('matches the raw pathname, so an encoded slash stays inside one segment until decoded', () => {
      const router = compileRoutes([entry('one', '/one/([^/]+)')]);
      expect(router.match('/one/a%2Fb')?.groups).toEqual(['a/b']);
      expect(router.match('/one/a/b')).toBeNull();
    });

    it('matches nothing when a captured group has malformed percent-encoding, not even a later catch-all', () => {
      const router = compileRoutes([entry('files', '/files/(.*)'), entry('all', '/(.*)')]);
      expect(router.match('/files/%zz')).toBeNull();
    });

    it('reads Python named groups (?P<name>...) as JavaScript named groups', () => {
      const router = compileRoutes([entry('user', '/user/(?P<id>\\w+)/(?P<tab>\\w+)')]);
      expect(router.match('/user/ann/posts')?.groups).toEqual(['ann', 'posts']);
    });

    it('returns null when nothing matches', () => {
      expect(compileRoutes([]).match('/')).toBeNull();
    });
  });

  describe('ordering', () => {
    it('tries higher priority first, even before an exact path', () => {
      const router = compileRoutes([entry('exact', '/a'), entry('regex', '/(.*)', 1)]);
      expect(names(router.entries)).toEqual(['regex', 'exact']);
      expect(router.match('/a')?.entry.name).toBe('regex');
    });

    it('tries exact paths before regexes of equal priority', () => {
      const router = compileRoutes([entry('regex', '/api/(.*)'), entry('exact', '/api/chat')]);
      expect(router.match('/api/chat')?.entry.name).toBe('exact');
      expect(router.match('/api/other')?.entry.name).toBe('regex');
    });

    it('tries the longer literal prefix first among regexes', () => {
      const router = compileRoutes([entry('all', '/(.*)'), entry('api', '/api/(.*)'), entry('users', '/api/users/(.*)')]);
      expect(names(router.entries)).toEqual(['users', 'api', 'all']);
      expect(router.match('/api/users/1')?.entry.name).toBe('users');
      expect(router.match('/api/x')?.entry.name).toBe('api');
      expect(router.match('/x')?.entry.name).toBe('all');
    });

    it('keeps file order when everything else ties', () => {
      expect(names(sortRoutes([entry('first', '/x/(.*)'), entry('second', '/x/(.+)')]))).toEqual(['first', 'second']);
      expect(names(sortRoutes([entry('second', '/x/(.+)'), entry('first', '/x/(.*)')]))).toEqual(['second', 'first']);
    });

    it('treats a negative priority as lower than the default', () => {
      expect(names(sortRoutes([entry('low', '/a', -1), entry('all', '/(.*)')]))).toEqual(['all', 'low']);
    });
  });
});

describe('analysePattern', () => {
  it('treats a path without metacharacters, or with only outer anchors, as exact', () => {
    expect(analysePattern('/chat/room')).toEqual({ exact: true, literalPrefix: '/chat/room' });
    expect(analysePattern('^/chat$')).toEqual({ exact: true, literalPrefix: '/chat' });
    expect(analysePattern('/favicon\\.ico')).toEqual({ exact: true, literalPrefix: '/favicon.ico' });
  });

  it('stops the literal prefix at the first metacharacter or class escape', () => {
    expect(analysePattern('/favicon.ico')).toEqual({ exact: false, literalPrefix: '/favicon' });
    expect(analysePattern('/api/(.*)')).toEqual({ exact: false, literalPrefix: '/api/' });
    expect(analysePattern('/id/\\d+')).toEqual({ exact: false, literalPrefix: '/id/' });
    expect(analysePattern('/price\\$')).toEqual({ exact: true, literalPrefix: '/price$' });
  });
});

describe('validatePattern', () => {
  it('returns null for a valid pattern', () => {
    expect(validatePattern('/$x/(.*)', 'url.a.pattern')).toBeNull();
  });

  it('returns an issue at the given path for an invalid regular expression', () => {
    expect(validatePattern('/a/(b', 'url.a.pattern')).toEqual({
      path: 'url.a.pattern',
      message: expect.stringMatching(/^invalid regular expression: /),
    });
    expect(validatePattern('/a/[', 'url.b.pattern')?.path).toBe('url.b.pattern');
    expect(validatePattern('/a/+*', 'url.c.pattern')).not.toBeNull();
  });
});
