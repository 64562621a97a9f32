import { describe, expect, it } from 'vitest';
import { compilePredicate, parseFilter } from '../../src/filter/index.js';
import type { Row } from '../../src/types.js';
import { MESSAGES, argsOf } from './fixtures.js';

const matches = (query: string, row: Row): boolean => compilePredicate(parseFilter(argsOf(query), MESSAGES))(row);

describe('compilePredicate', () => {
  it('accepts every row when there are no conditions, whatever the controls', () => {
    const test = compilePredicate(parseFilter(argsOf('_limit=0&_offset=5&_sort=id&_c=id'), MESSAGES));
    expect(test({ id: 'a' })).toBe(true);
  });

  it('matches any of several equality values and none of several inequality values', () => {
    expect(matches('topic=Help&topic=Bug', { topic: 'Bug' })).toBe(true);
    expect(matches('topic=Help&topic=Bug', { topic: 'help' })).toBe(false);
    expect(matches('topic!=Help&topic!=Bug', { topic: 'Bug' })).toBe(false);
    expect(matches('topic!=Help&topic!=Bug', { topic: 'Other' })).toBe(true);
  });

  it('lets NULL pass only null, ne, notcontains and noticontains', () => {
    const passing = ['topic!', 'topic!=x', 'topic!~=x', 'topic!*=x'];
    const failing = ['topic', 'topic=x', 'topic>=a', 'topic>~=a', 'topic<=z', 'topic<~=z', 'topic~=x', 'topic*=x'];
    for (const q of passing) expect([q, matches(q, { topic: null })]).toEqual([q, true]);
    for (const q of failing) expect([q, matches(q, { topic: null })]).toEqual([q, false]);
  });

  it('treats a key absent from the row as NULL', () => {
    expect(matches('topic!', { id: 'a' })).toBe(true);
    expect(matches('topic!=Help', { id: 'a' })).toBe(true);
    expect(matches('topic=Help', { id: 'a' })).toBe(false);
  });

  it('compares strictly with > and <, inclusively with >~ and <~', () => {
    expect(matches('length>=5', { length: 5 })).toBe(false);
    expect(matches('length>~=5', { length: 5 })).toBe(true);
    expect(matches('length<=5', { length: 5 })).toBe(false);
    expect(matches('length<~=5', { length: 5 })).toBe(true);
    expect(matches('score>=1', { score: 1.5 })).toBe(true);
  });

  it('compares numbers numerically and text by code point', () => {
    expect(matches('length>=9', { length: 10 })).toBe(true);
    expect(matches('topic>=9', { topic: '10' })).toBe(false);
    expect(matches('topic>=%EE%80%80', { topic: '😀' })).toBe(true);
    expect(matches('timestamp>~=2024-05', { timestamp: '2024-05-01T00:00:00Z' })).toBe(true);
  });

  it('matches substrings literally, with no wildcard or regex characters', () => {
    expect(matches('body~=a.c', { body: 'abc' })).toBe(false);
    expect(matches('body~=a%25c', { body: 'abc' })).toBe(false);
    expect(matches('body~=a_c', { body: 'a_c!' })).toBe(true);
    expect(matches('body~=(', { body: 'f(x)' })).toBe(true);
    expect(matches('body~=Hello', { body: 'hello' })).toBe(false);
  });

  it('ORs several substring values and rejects rows containing any of several excluded ones', () => {
    expect(matches('body~=x&body~=ell', { body: 'hello' })).toBe(true);
    expect(matches('body!~=x&body!~=ell', { body: 'hello' })).toBe(false);
    expect(matches('body!~=x&body!~=y', { body: 'hello' })).toBe(true);
  });

  it('folds ASCII letters only in case-insensitive matches', () => {
    expect(matches('body*=HELLO', { body: 'say Hello' })).toBe(true);
    expect(matches('body*=%C3%A9', { body: 'É' })).toBe(false);
    expect(matches('body*=k', { body: '\u212A' })).toBe(false);
    expect(matches('body!*=HELLO', { body: 'hello' })).toBe(false);
  });

  it('accepts booleans as true/false or as SQLite 0/1', () => {
    expect(matches('read=true', { read: true })).toBe(true);
    expect(matches('read=true', { read: 1 })).toBe(true);
    expect(matches('read=1', { read: false })).toBe(false);
    expect(matches('read!=true', { read: 0 })).toBe(true);
  });

  it('matches no positive operator for a value of the wrong type, so its negation accepts it', () => {
    expect(matches('topic=5', { topic: 5 })).toBe(false);
    expect(matches('topic!=5', { topic: 5 })).toBe(true);
    expect(matches('length=5', { length: '5' })).toBe(false);
    expect(matches('length>=1', { length: '5' })).toBe(false);
    expect(matches('body~=1', { body: 1 })).toBe(false);
  });

  it('ANDs conditions on different keys', () => {
    expect(matches('topic=Help&length>=3', { topic: 'Help', length: 4 })).toBe(true);
    expect(matches('topic=Help&length>=3', { topic: 'Help', length: 2 })).toBe(false);
  });
});
