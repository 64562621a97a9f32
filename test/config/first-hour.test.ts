/**
 * What a new user trips over in the first hour, caught by `msghub check` (compileService) with the YAML path:
 * an `open` that filters on no column, `primary_key` on a column other than id, a TEXT index on MySQL/MariaDB, a
 * Gramex (Tornado) alert template that can only fail, and Python expressions (whose errors name the JavaScript form
 * and the translation table). Plus: what is fine stays fine.
 */
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { compileService } from '../../src/service.js';
import { tempDir } from '../support/tmp.js';
import { issuesOf } from './helpers.js';

const compile = (kwargs: string, extra = ''): Promise<unknown> =>
  compileService(
    {
      config: YAML.parse(`
${extra}
url:
  chat:
    pattern: /chat
    handler: MessageHandler
    kwargs:
${/^url:/m.test(kwargs) ? '' : '      url: sqlite:///$YAMLPATH/chat.db'}
      table: messages
${kwargs.replace(/^/gm, '      ')}
`),
      baseDir: tempDir(),
    },
    { log: () => {} },
  );

const messages = async (kwargs: string, extra = ''): Promise<string[]> => (await issuesOf(compile(kwargs, extra))).map((i) => `${i.path}: ${i.message}`);

describe('msghub check catches', () => {
  it('an open expression that sets a filter arg naming no column', async () => {
    const [problem, ...rest] = await messages('columns: {body: TEXT}\nopen: "args.recipient = [handler.current_user?.id ?? \'\']"');
    expect(rest).toEqual([]);
    expect(problem).toMatch(/^url\.chat\.kwargs\.open: sets args\.recipient, but "recipient" names no column/);
    expect(problem).toContain('MH_ERR_FILTER_COLUMN');
    // Computed keys are not seen; operator suffixes and control args are resolved like the filter parser does.
    await expect(compile("columns: {body: TEXT, recipient: TEXT}\nopen: \"args.recipient = ['x']; args['timestamp>~'] = ['2024']; args._sort = ['-_seq']\"")).resolves.toBeTruthy();
    expect(await messages("columns: {body: TEXT}\nopen: \"args['size>'] = ['1']\"")).toEqual([expect.stringContaining('sets args.size>')]);
  });

  it('primary_key on a column other than id', async () => {
    expect(await messages('columns: {code: {type: TEXT, primary_key: true}}')).toEqual([
      expect.stringMatching(/^url\.chat\.kwargs\.columns\.code\.primary_key: only id can be the primary key/),
    ]);
    await expect(compile('columns: {id: {type: TEXT, primary_key: true}, body: TEXT}')).resolves.toBeTruthy();
  });

  it('an index on a TEXT column on MySQL/MariaDB (not on SQLite or PostgreSQL), naming the repair', async () => {
    const kw = (url: string, type: string): string => `url: ${url}\ncolumns: {recipient: ${type}}\nindexes: [[recipient]]`;
    const problems = await messages(kw('mysql://root@127.0.0.1:3306/test', 'TEXT'));
    expect(problems).toEqual([expect.stringMatching(/^url\.chat\.kwargs\.indexes\[0\]: MySQL\/MariaDB cannot index the TEXT column "recipient"/)]);
    expect(problems[0]).toContain('ALTER TABLE messages MODIFY `recipient` VARCHAR(64)');
    // The built-in user column is TEXT too.
    expect(await messages('url: mysql://root@127.0.0.1:3306/test\nindexes: [[user]]')).toHaveLength(1);
    await expect(compile(kw('mysql://root@127.0.0.1:3306/test', 'VARCHAR(64)'))).resolves.toBeTruthy();
    await expect(compile(kw('postgresql://postgres@127.0.0.1:5432/test', 'TEXT'))).resolves.toBeTruthy();
    await expect(compile(kw('sqlite:///$YAMLPATH/x.db', 'TEXT'))).resolves.toBeTruthy();
  });

  it("a Gramex/Tornado alert template ({{ msg.get('body', '') }}), rendered against a sample message", async () => {
    const email = 'email: {dev: {type: stub}}';
    const problems = await messages("columns: {body: TEXT, to: TEXT}\nalert: {to: '{{ to }}', subject: \"{{ msg.get('body', '') }}\"}", email);
    expect(problems).toEqual([expect.stringMatching(/^url\.chat\.kwargs\.alert\.subject: fails on a sample message/)]);
    expect(problems[0]).toContain('{{ body }}');
    await expect(compile("columns: {body: TEXT, to: TEXT}\nalert: {to: '{{ to }}', subject: '{{ body | truncate(60) }}', methods: [POST, PUT]}", email)).resolves.toBeTruthy();
  });

  it('Python expressions, naming the JavaScript form and the translation table', async () => {
    const cases: [string, string][] = [
      ["prepare: \"msg.title = f'{msg.body}'\"", '`…${x}…`'],
      ['open: "args.update(recipient=[handler.current_user.id])"', 'x.k = v'],
      ['prepare: "msg.at = datetime.datetime.utcnow().isoformat()"', 'now()'],
      ["prepare: \"msg.kind = 'long' if len(msg.body) > 10 else 'short'\"", 'c ? a : b'],
    ];
    for (const [kwargs, form] of cases) {
      const problems = await messages(`columns: {body: TEXT, title: TEXT, at: TEXT, kind: TEXT}\n${kwargs}`);
      expect(problems, kwargs).toHaveLength(1);
      expect(problems[0], kwargs).toContain('This looks like Python');
      expect(problems[0], kwargs).toContain(form);
      expect(problems[0], kwargs).toContain('docs/expressions.md');
    }
    // A JavaScript mistake gets no Python advice, even with "and" in a string.
    const [js] = await messages("columns: {body: TEXT}\nprepare: \"msg.body + 'and or not'  +\"");
    expect(js).not.toContain('Python');
  });
});
