/**
 * @module auth/sync-modules
 * Access is decided during the WebSocket handshake, synchronously, so an `auth.condition` may only call module
 * functions that answer at once. This wraps the app's modules for the condition's compiler: naming an `async`
 * function is reported at load (the compiler resolves module functions then), and any other function that
 * returns a promise at run time throws, which denies access instead of admitting on an unsettled answer.
 */

type Namespace = Readonly<Record<string, unknown>>;

/** Nested objects are wrapped this deep (`mod.a.b.fn`); deeper ones are passed through unwrapped. */
const MAX_DEPTH = 4;

/**
 * Returns views of `modules` whose functions refuse to go asynchronous. `onAsync(label)` is called when the
 * compiler looks up a function declared `async` (e.g. `mymodule.fetchUser`).
 */
export function syncOnlyModules(modules: Readonly<Record<string, Namespace>>, onAsync: (label: string) => void): Record<string, Namespace> {
  const out: Record<string, Namespace> = {};
  for (const [name, ns] of Object.entries(modules)) out[name] = view(ns, name, onAsync, 0);
  return out;
}

function view(obj: Namespace, label: string, onAsync: (label: string) => void, depth: number): Namespace {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(obj)) {
    const at = `${label}.${key}`;
    let cached: unknown;
    let done = false;
    Object.defineProperty(out, key, {
      enumerable: true,
      get() {
        if (done) return cached;
        done = true;
        const v = obj[key];
        if (typeof v === 'function') {
          if (isAsyncFunction(v)) onAsync(at);
          cached = syncOnly(v as (...a: unknown[]) => unknown, obj, at);
        } else if (typeof v === 'object' && v !== null && !Array.isArray(v) && depth < MAX_DEPTH) {
          cached = view(v as Namespace, at, onAsync, depth + 1);
        } else cached = v;
        return cached;
      },
    });
  }
  return Object.freeze(out);
}

function syncOnly(fn: (...a: unknown[]) => unknown, self: unknown, label: string): (...a: unknown[]) => unknown {
  return (...args) => {
    const r = Reflect.apply(fn, self, args);
    if ((typeof r === 'object' || typeof r === 'function') && r !== null && typeof (r as { then?: unknown }).then === 'function') {
      Promise.resolve(r).catch(() => undefined); // nobody awaits it: keep its failure from being unhandled
      throw new Error(`${label}() returned a promise; access conditions must be synchronous`);
    }
    return r;
  };
}

function isAsyncFunction(fn: unknown): boolean {
  const tag = Object.prototype.toString.call(fn);
  return tag === '[object AsyncFunction]' || tag === '[object AsyncGeneratorFunction]';
}
