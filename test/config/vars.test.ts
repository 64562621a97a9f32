import { describe, expect, it } from 'vitest';
import type { ConfigIssue } from '../../src/errors.js';
import { expandString, expandVars, type VarContext } from '../../src/config/vars.js';

const ctx: VarContext = { yamlPath: '/srv/app', yamlUrl: '/app', env: { USER: 'ann', YAMLPATHX: 'env-x' }, file: '/srv/app/gramex.yaml' };

function expand(text: string): { value: string; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  return { value: expandString(text, ctx, 'k', issues), issues };
}

describe('expandString', () => {
  it('replaces $YAMLPATH, $YAMLURL and environment variables, bare or braced', () => {
    expect(expand('$YAMLPATH|${YAMLPATH}|$YAMLURL|${YAMLURL}|$USER|${USER}').value).toBe('/srv/app|/srv/app|/app|/app|ann|ann');
  });

  it('takes the longest name, so braces are needed to append letters', () => {
    expect(expand('$YAMLPATHX ${YAMLPATH}X').value).toBe('env-x /srv/appX');
  });

  it('turns $$ into $ and leaves every other dollar as written', () => {
    expect(expand('$$USER $5 ^/a$ ${a.b} $').value).toBe('$USER $5 ^/a$ ${a.b} $');
  });

  it('reports an unset variable with the path and file, leaving the reference in place', () => {
    expect(expand('x-$NOPE-${NADA}')).toEqual({
      value: 'x-$NOPE-${NADA}',
      issues: [
        { path: 'k', file: ctx.file, message: 'environment variable $NOPE is not set (write $$ for a literal $)' },
        { path: 'k', file: ctx.file, message: 'environment variable $NADA is not set (write $$ for a literal $)' },
      ],
    });
  });
});

describe('expandVars', () => {
  it('copies structures, expanding strings at every depth with their own paths', () => {
    const issues: ConfigIssue[] = [];
    const input = { a: ['$USER', { b: '$MISSING' }], n: 1 };
    expect(expandVars(input, ctx, 'url.x.kwargs', issues)).toEqual({ a: ['ann', { b: '$MISSING' }], n: 1 });
    expect(issues.map((i) => i.path)).toEqual(['url.x.kwargs.a[1].b']);
    expect(input.a[0]).toBe('$USER');
  });

  it('expands a shared (aliased) object each time it appears without calling it circular', () => {
    const shared = { v: '$USER' };
    const issues: ConfigIssue[] = [];
    expect(expandVars({ a: shared, b: shared }, ctx, '', issues)).toEqual({ a: { v: 'ann' }, b: { v: 'ann' } });
    expect(issues).toEqual([]);
  });
});
