/**
 * @module compat
 * The adapters for the protocols of older systems, by their `handler:` name (compat/adapter.ts has the seam).
 */
import type { Adapter } from './adapter.js';
import { x0Adapter } from './x0/adapter.js';
import { textoAdapter } from './texto/adapter.js';
import { simpleBusAdapter } from './simplebus/adapter.js';

export type { Adapter, AdapterHost, AdapterRoute, CompiledAdapter, MountedAdapter } from './adapter.js';

/** Every adapter the service knows, in no particular order. */
export const ADAPTERS: readonly Adapter<any>[] = [textoAdapter, x0Adapter, simpleBusAdapter];

/** The adapter for a `handler:` name, if any. */
export function adapterFor(handler: string): Adapter<any> | undefined {
  return ADAPTERS.find((a) => a.handler === handler);
}
