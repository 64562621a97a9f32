/** Every wire protocol msghub speaks runs the Codec conformance suite (test/protocol/codec-conformance.ts). */
import { msghubCodec } from '../../src/protocol/msghub.js';
import { codecConformance } from './codec-conformance.js';

codecConformance({
  codec: msghubCodec,
  valid: ['{"body":"hi","_ref":1}', '{"_ack":3}', '{"_auth":"t","_ref":"a"}', '{"_method":"DELETE","id":"x"}', '{"_ref":1,"_seq":5}'],
});
