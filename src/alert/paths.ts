/**
 * @module alert/paths
 * Containment for paths that come out of templates. Attachment and template paths may be built from message
 * data, so a client must not be able to name `../../etc/passwd` and receive it by mail.
 */
import path from 'node:path';

/**
 * Resolves `rel` against `root` and returns the absolute path, or null when it lands outside `root` (after
 * `..` segments; an absolute `rel` counts as outside unless it is under `root`). The check is lexical: a
 * symlink inside `root` that an admin placed there is trusted.
 */
export function resolveInside(root: string, rel: string): string | null {
  const base = path.resolve(root);
  const full = path.resolve(base, rel);
  const relative = path.relative(base, full);
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) return null;
  return full;
}

/** A rendered path: whitespace and control characters around it are template noise, not part of the name. */
export function cleanPath(rendered: string): string {
  return rendered.replace(/[\u0000-\u001f\u007f]/g, '').trim();
}
