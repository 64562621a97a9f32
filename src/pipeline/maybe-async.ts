/**
 * @module pipeline/maybe-async
 * Sequencing for values that are usually synchronous. Expressions and hooks almost always return plain values;
 * awaiting them anyway would cost a microtask and a Promise per stage per message. `then` stays synchronous
 * until something actually returns a thenable.
 */
export type MaybePromise<T> = T | Promise<T>;

export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

/** Calls `fn` with the value now if it is not a promise, else when it resolves. */
export function andThen<T, U>(value: MaybePromise<T>, fn: (v: T) => MaybePromise<U>): MaybePromise<U> {
  return isThenable(value) ? (value as Promise<T>).then(fn) : fn(value as T);
}
