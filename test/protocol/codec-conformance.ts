/**
 * The Codec conformance suite (the contract is in src/protocol/codec.ts). Every wire protocol runs it: msghub's own
 * and each adapter's (x0, Texto, SimpleBus). It checks what the core relies on, whatever the protocol's shape:
 * decoding hostile text throws nothing but a catalogued MhError (or returns an intent), touches no prototype and
 * finishes quickly; a message it hands the intake has passed `checkUntrusted`; the encoders never throw, whatever value they are handed; and the text of an event or a history
 * row depends on that event alone (the hub encodes it once and sends the same text to every subscriber).
 */
import { describe, expect, it } from 'vitest';
import { MhError } from '../../src/errors.js';
import { checkUntrusted } from '../../src/pipeline/untrusted.js';
import type { Codec } from '../../src/protocol/codec.js';
import type { Row } from '../../src/types.js';

/** Text no client should be able to turn into anything but a refusal or an intent. */
const HOSTILE: readonly string[] = [
  '',
  ' ',
  'null',
  'true',
  '42',
  '"text"',
  '[]',
  '[1,2,3]',
  '{',
  '{"a":',
  '\u0000',
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  '{"a":"\\ud800"}',
  '{"type":"\\udfff"}',
  '{"a":1e400}',
  '{"id":{"$gt":""}}',
  '['.repeat(5000) + ']'.repeat(5000),
  '{"a":'.repeat(2000) + '1' + '}'.repeat(2000),
  JSON.stringify({ type: 'x'.repeat(100_000) }),
  JSON.stringify({ type: null, data: null, _ref: null, kind: null }),
  JSON.stringify({ type: ['SET'], kind: ['send'], _ack: 'x', _auth: 1 }),
];

/** Values an encoder may be handed as a reference or a field: none may make it throw. */
function oddValues(): unknown[] {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  return [undefined, null, 0, -1, 'ref', '\ud800', 10n, cyclic, () => 1, Symbol('s'), { toJSON: () => { throw new Error('boom'); } }];
}

const FRAME: Row = { id: 'b1c2', _method: 'POST', _seq: 7, body: 'hi <b>', user: 'alice', timestamp: '2026-12-07T06:00:00.000Z' };

export interface CodecCase {
  codec: Codec;
  /** Frames the protocol's real clients send that decode to an intent (at least one). */
  valid: readonly string[];
}

export function codecConformance({ codec, valid }: CodecCase): void {
  describe(`Codec conformance: ${codec.name}`, () => {
    it('decodes its own clients\' frames into intents', () => {
      for (const text of valid) {
        const intent = codec.decode(text);
        expect(['message', 'ack', 'auth', 'invalid', 'control'], text).toContain(intent.kind);
        if (intent.kind === 'message') expect(() => checkUntrusted(intent.msg), text).not.toThrow();
      }
    });

    it('answers hostile text with an intent or a catalogued MhError, quickly, polluting nothing', () => {
      for (const text of HOSTILE) {
        const started = performance.now();
        try {
          const intent = codec.decode(text);
          expect(typeof intent.kind).toBe('string');
          if (intent.kind === 'invalid') expect(intent.error).toBeInstanceOf(MhError);
          // What reaches the intake was checked by the codec (depth, well-formed text, no __proto__).
          if (intent.kind === 'message') expect(() => checkUntrusted(intent.msg)).not.toThrow();
        } catch (err) {
          expect(err, `decode(${JSON.stringify(text.slice(0, 40))}) threw a non-catalogued error`).toBeInstanceOf(MhError);
        }
        expect(performance.now() - started, text.slice(0, 40)).toBeLessThan(250);
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
    });

    it('never throws from an encoder, whatever it is handed', () => {
      const err = new MhError('MH_ERR_MSG_NOT_JSON', ['x']);
      for (const v of oddValues()) {
        expect(() => codec.ack({ seq: 1, ref: v, id: 'i' })).not.toThrow();
        expect(() => codec.ack({ seq: null, ref: v, id: 'i' })).not.toThrow();
        expect(() => codec.error(err, v)).not.toThrow();
        expect(() => codec.authOk(v, null)).not.toThrow();
        expect(() => codec.authOk(v, Date.now())).not.toThrow();
      }
      expect(() => codec.error(err)).not.toThrow();
      expect(() => codec.reset(1, 5, 9)).not.toThrow();
      expect(typeof codec.event(FRAME)).toBe('string');
      expect(typeof codec.history({ id: 'x', body: 'y' })).toBe('string');
    });

    it('encodes an event or a history row from that row alone (the hub shares the text)', () => {
      const a = codec.event({ ...FRAME });
      const b = codec.event({ ...FRAME });
      expect(a).toBe(b);
      const row = { id: 'r1', body: 'x', user: null };
      expect(codec.history({ ...row })).toBe(codec.history({ ...row }));
    });
  });
}
