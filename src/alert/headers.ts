/**
 * @module alert/headers
 * Header hygiene for rendered alerts. Header fields are templates fed with client data, so a message body of
 * `"hi\r\nBcc: evil@x"` rendered into a subject must stay one line: every control character (CR, LF, NUL,
 * the Unicode line separators, …) becomes a space after rendering, before anything reaches nodemailer.
 */
import addressparser from 'nodemailer/lib/addressparser/index.js';

// C0 controls (incl. CR, LF, TAB), DEL, C1 controls (incl. NEL) and the Unicode line/paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;

/** One header line: control characters become single spaces, ends are trimmed. */
export function cleanHeader(value: string): string {
  return value.replace(CONTROL, ' ').trim();
}

const ADDRESS = /^[^\s@<>",;]+@[^\s@<>",;]+$/;

/**
 * Splits a rendered address field ("a@x, Name <b@y>") into single addresses, formatted for a header.
 * Quoted display names may contain commas. Entries without a plausible `local@domain` are returned as
 * `invalid` so the caller can log them; they never become recipients.
 */
export function parseAddresses(field: string): { valid: string[]; invalid: string[] } {
  const valid: string[] = [];
  const invalid: string[] = [];
  const text = cleanHeader(field);
  if (!text) return { valid, invalid };
  for (const { name, address } of addressparser(text, { flatten: true })) {
    if (!address || !ADDRESS.test(address)) {
      invalid.push(name || address);
      continue;
    }
    valid.push(name ? `"${name.replace(/["\\]/g, '\\$&')}" <${address}>` : address);
  }
  return { valid, invalid };
}
