import { describe, expect, it } from 'vitest';
import { joinPath } from '../../src/config/path.js';

describe('joinPath', () => {
  it('joins keys with dots, indexes with brackets, and quotes keys that would be ambiguous', () => {
    expect(joinPath('', 'url')).toBe('url');
    expect(joinPath('url', 'messagehandler/simple')).toBe('url.messagehandler/simple');
    expect(joinPath('import', 2)).toBe('import[2]');
    expect(joinPath('url', 'v1.0')).toBe('url["v1.0"]');
    expect(joinPath('', 'a b')).toBe('["a b"]');
  });
});
