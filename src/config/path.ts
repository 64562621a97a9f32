/**
 * @module config/path
 * YAML paths for config issues. Every issue names where the fault is, in the dotted style of
 * `url.comments.kwargs.columns.body`, so an author can find the line without guessing.
 */

/** Keys that would make a dotted path ambiguous are quoted, e.g. `url["v1.0"].pattern`. */
const PLAIN_KEY = /^[^.[\]"\s]+$/;

/**
 * Appends one step to a YAML path: a mapping key (`url` + `chat` → `url.chat`) or a list index
 * (`import` + 1 → `import[1]`). An empty base means the document root.
 */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  const step = PLAIN_KEY.test(key) ? key : `[${JSON.stringify(key)}]`;
  if (base === '') return step;
  return step.startsWith('[') ? base + step : `${base}.${step}`;
}

/** Path used for problems with the document as a whole (it is not a mapping, or cannot be parsed). */
export const ROOT_PATH = '(root)';
