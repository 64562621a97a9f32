/**
 * A service can be started and closed at once (embedders' tests, CLI checks): nothing it scheduled for later
 * may then run against a closed database.
 */
import { describe, expect, it } from 'vitest';
import { MessageService } from '../src/service.js';
import { writeConfig } from './support/tmp.js';

describe('service lifecycle', () => {
  it('closes in the turn it started without work left to fail on the closed store', async () => {
    // An in-memory database: closing it needs no I/O, so the whole close finishes before the next turn.
    const file = writeConfig(['url:', '  chat:', '    pattern: /chat', '    handler: MessageHandler', '    kwargs: {url: "sqlite://", table: msgs, columns: {body: TEXT}}'].join('\n'));
    const lines: string[] = [];
    const service = await MessageService.start(file, { log: (level, message, err) => void lines.push(`${level}: ${message} ${err ?? ''}`) });
    await service.close();
    // The handler's first pruning of the event record was scheduled for the next turn: let it come.
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(lines.filter((l) => !l.startsWith('debug') && !l.startsWith('info'))).toEqual([]);
  });
});
