/**
 * @module pipeline/defaults
 * Stage 2: `message_default`. POST always gets `id`, `user` and `timestamp` from the server (client values are
 * overwritten, so nobody can spoof them) unless the app author defines the same key; then the author's
 * expressions run in YAML order, each setting `msg[key]`.
 */
import type { DefaultEntry } from '../config/message-handler.js';
import type { Row, User } from '../types.js';
import { newId } from './ids.js';
import { andThen, type MaybePromise } from './maybe-async.js';


export interface ExprHandler {
  readonly name: string;
  readonly current_user: User | null;
  readonly session: { readonly id: string | null };
  readonly args: Record<string, string[]>;
  readonly request: { readonly ip: string; readonly headers: Readonly<Record<string, string>> };
}

const BUILTIN_POST: Record<string, (h: ExprHandler) => unknown> = {
  // 22 URL-safe characters like Gramex's, but time-ordered (see pipeline/ids.ts).
  id: () => newId(),
  user: (h) => h.current_user?.id ?? null,
  // ISO 8601 UTC with Z (ARCHITECTURE decision 10; Gramex writes naive UTC without a zone).
  timestamp: () => isoNow(),
};

// One Date and one toISOString per millisecond, not per message: a busy server posts many in the same one.
let nowMs = 0;
let nowIso = '';
function isoNow(): string {
  const ms = Date.now();
  if (ms !== nowMs) {
    nowMs = ms;
    nowIso = new Date(ms).toISOString();
  }
  return nowIso;
}

/** The built-in POST defaults the author did not override (computed once per handler). */
export function builtinDefaults(authorEntries: readonly DefaultEntry[]): readonly [string, (h: ExprHandler) => unknown][] {
  return Object.entries(BUILTIN_POST).filter(([key]) => !authorEntries.some((e) => e.key === key));
}

/** Applies built-in and author defaults to `msg` in place, in that order. */
export function applyDefaults(
  msg: Row,
  builtins: readonly [string, (h: ExprHandler) => unknown][],
  entries: readonly DefaultEntry[],
  handler: ExprHandler,
): MaybePromise<void> {
  for (const [key, fn] of builtins) msg[key] = fn(handler);
  return run(msg, entries, handler, 0);
}

function run(msg: Row, entries: readonly DefaultEntry[], handler: ExprHandler, i: number): MaybePromise<void> {
  for (; i < entries.length; i++) {
    const { key, expr } = entries[i]!;
    const v = expr({ msg, handler });
    if (v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function') {
      const next = i + 1;
      return andThen(v as Promise<unknown>, (value) => {
        msg[key] = value;
        return run(msg, entries, handler, next);
      });
    }
    msg[key] = v;
  }
}
