/**
 * The seams adapters build on (issue 15): a subscription made in code (a filter given, a subscriber key that is
 * not a user), a codec of another wire shape on the same hub, the session's early-frame buffering, and the
 * intake's one answer per message. Real service, real SQLite file; the sinks record what a transport would write.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionInfo, MessageHandler } from '../../src/core/handler.js';
import type { MhError } from '../../src/errors.js';
import { parseFilter } from '../../src/filter/index.js';
import { msghubCodec } from '../../src/protocol/msghub.js';
import type { Codec, Intent } from '../../src/protocol/codec.js';
import { MessageService } from '../../src/service.js';
import type { Payload, Sink } from '../../src/transport/sink.js';
import type { Row } from '../../src/types.js';
import { tempDir, writeConfig } from '../support/tmp.js';

/** A sink that records the text of every frame, and resolves waiters as frames arrive. */
class RecordingSink implements Sink {
  readonly texts: string[] = [];
  isOpen = true;
  readonly backlogged = false;
  closedWith: number | null = null;
  private waiters: (() => void)[] = [];
  send(payload: Payload): void {
    this.push(payload.text);
  }
  sendText(text: string): void {
    this.push(text);
  }
  close(code: number): void {
    this.closedWith = code;
    this.isOpen = false;
    this.wake();
  }
  drained(): Promise<void> {
    return new Promise((r) => setImmediate(r));
  }
  private push(text: string): void {
    if (!this.isOpen) return;
    this.texts.push(text);
    this.wake();
  }
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  /** Resolves when `pred` holds over the texts so far (bounded). */
  async until(pred: (texts: string[]) => boolean, what: string, ms = 5000): Promise<string[]> {
    const deadline = Date.now() + ms;
    while (!pred(this.texts)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.texts).slice(0, 1000)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return this.texts;
  }
  json(): Row[] {
    return this.texts.filter((t) => t.startsWith('{')).map((t) => JSON.parse(t) as Row);
  }
}

/** A toy line protocol: `SAY <body>` in; `EVENT <id> <body>`, `OK <id>`, `FAIL <code>` out. */
const lineCodec: Codec = {
  name: 'line',
  decode(text: string): Intent {
    const m = /^SAY (.*)$/s.exec(text);
    if (!m) return { kind: 'invalid', error: Object.assign(new Error('bad'), { code: 'MH_ERR_MSG_NOT_JSON', toJSON: () => ({}) }) as unknown as MhError, ref: 1 };
    return { kind: 'message', msg: { _method: 'POST', body: m[1]!, to: 'line' }, ref: 1 };
  },
  event: (frame) => `EVENT ${String(frame.id)} ${String(frame.body)}`,
  history: (row) => `ROW ${String(row.id)} ${String(row.body)}`,
  ack: ({ id }) => `OK ${id}`,
  error: (err) => `FAIL ${err.code}`,
  reset: () => 'RESET',
  authOk: () => 'AUTH',
};

const info = (user: string | null = null): ConnectionInfo => ({ args: Object.create(null), user: user ? { id: user } : null, sessionId: null, ip: '127.0.0.1', headers: {} });

describe('the subscriber seam, codecs and the intake', () => {
  let service: MessageService;
  let chat: MessageHandler;
  let dir: string;

  beforeAll(async () => {
    dir = tempDir();
    fs.writeFileSync(path.join(dir, 'hide.js'), 'export function hide(msg) { delete msg.email; }\n');
    const file = writeConfig(
      `
url:
  chat:
    pattern: /chat
    handler: MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/seams.db
      table: chat
      columns: {body: TEXT, to: TEXT, email: TEXT}
      durable: true
      ack_timeout: 60
      modify: hide.hide(msg)
      limits: {messages_per_second: 0}
modules:
  hide: ./hide.js
`,
      dir,
    );
    service = await MessageService.start(file, { log: () => undefined });
    chat = service.handlers.get('chat')!;
  });
  afterAll(async () => {
    await service?.close();
  });

  const post = (body: string, to: string, extra: Row = {}): Promise<Row> =>
    chat.submit({ body, to, ...extra }, Object.freeze({ name: 'chat', current_user: null, session: { id: null }, args: Object.create(null), request: { ip: '127.0.0.1', headers: {} } }));

  it('subscribes with a filter given in code and a subscriber key that is not a user, and resumes that key from its acknowledged position', async () => {
    const filter = parseFilter({ to: ['session-7'] }, chat.config.columns);
    const first = new RecordingSink();
    const session = chat.attach(first, info(null), { filter, key: 'session-7' });
    const m1 = await post('one', 'session-7');
    await post('not for us', 'session-8');
    const m2 = await post('two', 'session-7');
    await first.until((t) => t.some((x) => x.includes(String(m2.id))), 'the second message');
    expect(first.json().filter((f) => f._method === 'POST').map((f) => f.body)).toEqual(['one', 'two']);
    // Acknowledge the first only, through the session, as a transport would pass the client's frame.
    session.receive(JSON.stringify({ _ack: m1._seq }), 20);
    session.close();
    // The acknowledgement is saved on a later turn; a new subscription with the same key resumes after it.
    const deadline = Date.now() + 5000;
    while ((await chat.store.getCursor('chat', 'session-7')) !== m1._seq) {
      if (Date.now() > deadline) throw new Error('the acknowledgement was not saved');
      await new Promise((r) => setImmediate(r));
    }
    const again = new RecordingSink();
    chat.attach(again, info(null), { filter, key: 'session-7' });
    await again.until((t) => t.some((x) => x.includes(String(m2.id))), 'the unacknowledged message');
    const replayed = again.json().filter((f) => f._seq !== undefined);
    expect(replayed.map((f) => f.body)).toEqual(['two']);
  });

  it('encodes events, history, acknowledgements and errors in each subscriber’s codec, on one hub', async () => {
    const filter = parseFilter({ to: ['line'] }, chat.config.columns);
    const own = new RecordingSink();
    const line = new RecordingSink();
    chat.attach(own, info('u1'), { filter });
    const lineSession = chat.attach(line, info('u2'), { filter, codec: lineCodec });
    await line.until(() => true, 'nothing');
    lineSession.receive('SAY hello', 9);
    await line.until((t) => t.some((x) => x.startsWith('OK ')), 'an OK');
    const id = line.texts.find((x) => x.startsWith('OK '))!.slice(3);
    expect(line.texts).toContain(`EVENT ${id} hello`);
    await own.until((t) => t.some((x) => x.includes(id)), 'the JSON event');
    expect(own.json().find((f) => f.id === id)).toMatchObject({ _method: 'POST', body: 'hello', to: 'line' });
    lineSession.receive('garbage', 7);
    await line.until((t) => t.includes('FAIL MH_ERR_MSG_NOT_JSON'), 'a FAIL');
    // History comes in the codec's shape too.
    const later = new RecordingSink();
    chat.attach(later, info('u3'), { filter, codec: lineCodec });
    await later.until((t) => t.includes(`ROW ${id} hello`), 'the history row');
    expect(msghubCodec.ack({ seq: null, ref: 'r', id: 'x' })).toBe('{"_ack":null,"_ref":"r","id":"x","_seq":null}');
  });

  it('holds frames sent before the subscription is live, in order, and refuses a flood of them with 4429', async () => {
    const sink = new RecordingSink();
    const session = chat.attach(sink, info('early'), { filter: parseFilter({ to: ['early'] }, chat.config.columns) });
    // Synchronously, before the subscription's history could have been read.
    for (let i = 0; i < 5; i++) session.receive(JSON.stringify({ body: `e${i}`, to: 'early', _ref: i }), 40);
    await sink.until((t) => t.filter((x) => x.startsWith('{"_ack"')).length === 5, 'five acks');
    expect(sink.json().filter((f) => f._ack !== undefined).map((f) => f._ref)).toEqual([0, 1, 2, 3, 4]);
    const flooded = new RecordingSink();
    const s2 = chat.attach(flooded, info('flood'));
    for (let i = 0; i <= 1000; i++) s2.receive('{"body":"x"}', 12);
    expect(flooded.closedWith).toBe(4429);
    expect(flooded.json()[0]).toMatchObject({ _error: { code: 'MH_ERR_EARLY_FLOOD' } });
  });

  it('never re-broadcasts a column that modify removed, though the row keeps it', async () => {
    const sink = new RecordingSink();
    chat.attach(sink, info('w'), { filter: parseFilter({ to: ['private'] }, chat.config.columns) });
    const frame = await post('secret', 'private', { email: 'a@example.org' });
    expect(frame).not.toHaveProperty('email');
    await sink.until((t) => t.some((x) => x.includes(String(frame.id))), 'the event');
    expect(sink.json().find((f) => f.id === frame.id)).not.toHaveProperty('email');
    const rows = (await chat.store.history(parseFilter({ id: [String(frame.id)] }, chat.config.columns), 10)) as Row[];
    expect(rows[0]!.email).toBe('a@example.org');
  });
});
