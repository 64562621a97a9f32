/**
 * @module expr/python-hints
 * Gramex users paste Python expressions (`f'…'`, `args.update(…)`, `x if c else y`). jsep's error for them
 * ("Expected expression after …", "unknown name datetime") does not say what is wrong; this names the JavaScript
 * form of each recognised Python pattern and points to the translation table. Used only when an expression
 * failed to compile, so it costs nothing on the hot path and cannot turn a valid expression into an error.
 */

/** Python patterns, tested on the source with string literals blanked (except f-strings, tested on the source). */
const PATTERNS: readonly (readonly [RegExp, string])[] = [
  [/\.update\s*\(/, "x.update(k=v) → x.k = v (args values are lists: args.k = [v])"],
  [/\.get\s*\(/, "x.get('k', d) → x.k ?? d"],
  [/\bdatetime\s*\./, 'datetime.datetime.utcnow().isoformat() → now() (ISO 8601 UTC with Z)'],
  [/\bif\b[^?]*\belse\b/, 'a if c else b → c ? a : b'],
  [/\blambda\b/, 'lambda x: y → (x) => y'],
  [/\b(and|or)\b/, 'and, or → &&, ||'],
  [/\bnot\s/, 'not x → !x'],
  [/\b(True|False|None)\b/, 'True, False, None → true, false, null'],
  [/\blen\s*\(/, 'len(x) → x.length'],
  [/\bstr\s*\(/, 'str(x) → String(x)'],
  [/\.(strip|lower|upper)\s*\(\s*\)/, 'x.strip(), x.lower(), x.upper() → x.trim(), x.toLowerCase(), x.toUpperCase()'],
  [/\b(import|from)\s+\w/, 'import … → a module under modules: (docs/expressions.md, "Modules")'],
];

const F_STRING = /(^|[^\w$.])[fF](['"])/;

/**
 * A hint for an expression that failed to compile: the JavaScript forms of the Python patterns it contains, and
 * where the translation table is. Empty when nothing looks like Python.
 */
export function pythonHint(source: string): string {
  const found: string[] = [];
  if (F_STRING.test(source)) found.push("f'…{x}…' → `…${x}…` (a template literal)");
  const code = source.replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`/g, "''");
  for (const [re, hint] of PATTERNS) if (re.test(code)) found.push(hint);
  if (!found.length) return '';
  return `. This looks like Python; expressions are JavaScript: ${found.join('; ')} (see "Gramex examples, translated" in docs/expressions.md)`;
}
