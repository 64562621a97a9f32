/**
 * MessageHandler configuration: every mistake is reported at load, all at once, each with its YAML path.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { compileService } from '../../src/service.js';
import { CLI } from '../support/mounts.js';
import { writeConfig } from '../support/tmp.js';

const BAD = `
url:
  comments:
    pattern: /comments
    handler: MessageHandler
    kwargs:
      url: nosql://somewhere
      table: comments
      colums: {}
      columns:
        body: TXT
        length: {type: INTEGER, nullable: maybe}
        _seq: INTEGER
        bad-name: TEXT
      history_limit: -1
      edit: everyone
      indexes: [[body], [nosuch]]
      prepare: "msg.body = ("
      message_default:
        PATCH: {x: "1"}
        POST: {to: "process.exit()"}
  other:
    pattern: /other
    handler: MessageHandler
    kwargs:
      table: other
`;

async function issuesOf(text: string): Promise<{ path: string; message: string }[]> {
  try {
    await compileService(writeConfig(text));
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).issues];
  }
  throw new Error('config was accepted');
}

describe('MessageHandler configuration', () => {
  it('reports every mistake at once, each at its YAML path', async () => {
    const issues = await issuesOf(BAD);
    const paths = issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'url.comments.kwargs.url',
        'url.comments.kwargs.colums',
        'url.comments.kwargs.columns.body',
        'url.comments.kwargs.columns.length.nullable',
        'url.comments.kwargs.columns._seq',
        'url.comments.kwargs.columns.bad-name',
        'url.comments.kwargs.history_limit',
        'url.comments.kwargs.edit',
        'url.comments.kwargs.indexes[1]',
        'url.comments.kwargs.prepare',
        'url.comments.kwargs.message_default.PATCH',
        'url.comments.kwargs.message_default.POST.to',
        'url.other.kwargs.url',
      ]),
    );
    expect(issues.find((i) => i.path === 'url.comments.kwargs.columns.body')!.message).toMatch(/unknown column type "TXT"/);
    expect(issues.find((i) => i.path === 'url.comments.kwargs.prepare')!.message).toMatch(/column/i);
  });

  it('accepts a valid config', async () => {
    const compiled = await compileService(
      writeConfig(`
url:
  ok:
    pattern: /ok
    handler: MessageHandler
    kwargs:
      url: sqlite:///ok.db
      table: ok
      columns: {body: TEXT, n: {type: INTEGER, default: 0}}
      message_default: {post: {n: "1 + 1"}}
`),
    );
    expect(compiled.messageHandlers).toHaveLength(1);
    expect([...compiled.messageHandlers[0]!.config.columns.keys()]).toEqual(['body', 'n', 'id', 'user', 'timestamp']);
  });

  it('msghub check prints every error with its path and exits 1; a good config exits 0', () => {
    const bad = spawnSync(process.execPath, [CLI, 'check', writeConfig(BAD)], { encoding: 'utf8', timeout: 20_000 });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('url.comments.kwargs.columns.body');
    expect(bad.stderr).toContain('url.other.kwargs.url');
    const good = spawnSync(process.execPath, [CLI, 'check', writeConfig('url: {}\n')], { encoding: 'utf8', timeout: 20_000 });
    expect(good.stderr).toBe('');
    expect(good.status).toBe(0);
  });
});
