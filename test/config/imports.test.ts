import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { childYamlUrl, normalizeYamlUrl } from '../../src/config/imports.js';

describe('normalizeYamlUrl', () => {
  it('keeps one leading slash, drops trailing and doubled slashes, and maps the root to ""', () => {
    expect(normalizeYamlUrl('/console/')).toBe('/console');
    expect(normalizeYamlUrl('a//b')).toBe('/a/b');
    expect(normalizeYamlUrl('/')).toBe('');
    expect(normalizeYamlUrl('')).toBe('');
  });
});

describe('childYamlUrl', () => {
  const root = path.resolve('/srv/site');

  it('appends the relative folder to the parent URL, encoding each segment', () => {
    expect(childYamlUrl('', root, path.join(root, 'apps', 'my chat'))).toBe('/apps/my%20chat');
    expect(childYamlUrl('/console', root, path.join(root, 'sub'))).toBe('/console/sub');
    expect(childYamlUrl('/a/b', path.join(root, 'x'), root)).toBe('/a');
    expect(childYamlUrl('/a', root, root)).toBe('/a');
  });

  it('is undefined above the site root or below an unknown parent URL', () => {
    expect(childYamlUrl('', root, path.resolve('/srv/other'))).toBeUndefined();
    expect(childYamlUrl(undefined, root, path.join(root, 'x'))).toBeUndefined();
  });
});
