/**
 * @module protocol/msghub
 * msghub's own wire protocol (docs/protocol.md): one JSON object per frame. Every control frame the server
 * sends is built here and nowhere else:
 *
 *   ← {"_ack": 42, "_ref": "m-17", "id": "…", "_seq": 42}        a committed message (direct: `_ack` and `_seq` null)
 *   ← {"_error": {"code": "MH_ERR_…", "message": "…"}, "_ref": "m-17"}
 *   ← {"_reset": {"since": 10, "oldest": 500, "seq": 900}}         a resume fell back to history
 *   ← {"_auth": "ok", "_ref": …, "expires": "2026-…Z" | null}      a token refresh was accepted
 *
 * Client frames: a message (`_method` POST by default), `{"_ack": seq}`, `{"_auth": token}`, each with an optional
 * `_ref` echoed in the answer.
 */
import { MhError } from '../errors.js';
import { checkedMessage, checkObject, parseJson } from '../pipeline/parse.js';
import { checkUntrusted } from '../pipeline/untrusted.js';
import { rowJson } from '../store/apply.js';
import type { Row } from '../types.js';
import type { Ack, Codec, Intent } from './codec.js';

/** `"_ref":…,` for a reference that can be echoed, '' otherwise (see the Codec contract: encoders never throw). */
function refPart(ref: unknown): string {
  if (ref === undefined) return '';
  try {
    const text = JSON.stringify(ref);
    return text === undefined ? '' : `"_ref":${text},`;
  } catch {
    return '';
  }
}

export const msghubCodec: Codec = {
  name: 'msghub',

  decode(text: string): Intent {
    const value = parseJson(text);
    checkObject(value);
    // `_ref` first: once it is known to be safe to echo, every later refusal can name the request it answers.
    const ref = value._ref;
    checkUntrusted(ref);
    delete value._ref;
    try {
      checkUntrusted(value);
      if (Object.hasOwn(value, '_ack')) return { kind: 'ack', seq: value._ack, ref };
      if (Object.hasOwn(value, '_auth')) return { kind: 'auth', token: value._auth, ref };
      return { kind: 'message', msg: checkedMessage(value), ref };
    } catch (err) {
      if (!(err instanceof MhError)) throw err;
      return { kind: 'invalid', error: err, ref };
    }
  },

  event(frame: Row): string {
    return JSON.stringify(frame);
  },

  history(row: Row): string {
    // A row the store rendered as JSON itself (store/apply.ts ROW_JSON) goes out as it is.
    return rowJson(row) ?? JSON.stringify(row);
  },

  ack({ seq, ref, id }: Ack): string {
    // Same keys and order as JSON.stringify of {_ack, _ref, id, _seq}, without building the object.
    const s = seq === null ? 'null' : String(seq);
    const r = refPart(ref);
    return `{"_ack":${s},${r}"id":${JSON.stringify(id)},"_seq":${s}}`;
  },

  error(err: MhError, ref?: unknown): string {
    const body = JSON.stringify(err.toJSON());
    const r = refPart(ref);
    return r === '' ? `{"_error":${body}}` : `{"_error":${body},${r.slice(0, -1)}}`;
  },

  reset(since: number, oldest: number, seq: number): string {
    return JSON.stringify({ _reset: { since, oldest, seq } });
  },

  authOk(ref: unknown, expiresAt: number | null): string {
    const expires = expiresAt === null ? null : new Date(expiresAt).toISOString();
    return `{"_auth":"ok",${refPart(ref)}"expires":${JSON.stringify(expires)}}`;
  },
};
