/** Every wire protocol msghub speaks runs the Codec conformance suite (test/protocol/codec-conformance.ts). */
import { simpleBusCodec } from '../../src/compat/simplebus/codec.js';
import { TextoCodec } from '../../src/compat/texto/codec.js';
import { x0Codec } from '../../src/compat/x0/codec.js';
import { msghubCodec } from '../../src/protocol/msghub.js';
import { codecConformance } from './codec-conformance.js';

codecConformance({
  codec: msghubCodec,
  valid: ['{"body":"hi","_ref":1}', '{"_ack":3}', '{"_auth":"t","_ref":"a"}', '{"_method":"DELETE","id":"x"}', '{"_ref":1,"_seq":5}'],
});

// x0's clients speak HTTP only: its codec encodes what polls return and refuses every socket frame.
codecConformance({ codec: x0Codec, valid: ['{"type":"GET"}'] });

const me = '6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const peer = '0a1b2c3d-4e5f-4a6b-9c7d-8e0f1a2b3c4d';
codecConformance({
  codec: new TextoCodec(me),
  valid: [
    JSON.stringify({ id: peer, client_id: me, kind: 'send', data: { receiver_id: peer, text: 'hi' } }),
    JSON.stringify({ id: peer, client_id: me, kind: 'ack', data: null }),
    JSON.stringify({ id: peer, client_id: me, kind: 'registration', data: null }),
    JSON.stringify({ id: peer, client_id: me, kind: 'send', data: { receiver_id: peer, text: '\ud800' } }),
  ],
});

codecConformance({
  codec: simpleBusCodec({ uidRequired: true }),
  valid: [
    JSON.stringify({ type: 'connect', data: 'user1', password: 'pw', uid: 'u' }),
    JSON.stringify({ to: ['@user2'], message: 'Hello', uid: 'u1' }),
    JSON.stringify({ type: 'confirmation', data: '9f'.repeat(16), uid: 'u1' }),
    JSON.stringify({ to: ['@user2'], message: { deep: [1, 2] } }),
  ],
});
