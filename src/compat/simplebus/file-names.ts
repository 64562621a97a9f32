/**
 * @module compat/simplebus/file-names
 * The names of SimpleBus files on disk. A client never names a file: its form field name is only the
 * `display_filename` (data in the message), and the stored name is generated from the message's `_id` and a
 * sanitised copy of that display name, in SimpleBus's shape `<_id>_<name>` (werkzeug's `secure_filename`: ASCII
 * letters, digits, `_`, `.`, `-`). So a stored name has no separator, no `..`, no NUL, never starts with a dot
 * (the upload's temporary names do, so the two never meet) and fits a file system's 255-byte limit.
 */
import { randomBytes } from 'node:crypto';
import { MhError } from '../../errors.js';

/** What every stored name matches; `/download/<name>` refuses anything else before touching the disk. */
export const STORED_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,219}$/;

/** Longest display name (UTF-16 code units): it travels in every recipient's message. */
export const MAX_DISPLAY_NAME = 1000;

/** Longest sanitised display name inside a stored name (the `_id` part takes at most 128 + `_<n>`). */
const MAX_SAFE_NAME = 80;

/** Prefix of the temporary files an upload writes before it knows the message's `_id`. */
export const TEMP_PREFIX = '.upload-';

/** A fresh temporary file name (never a STORED_NAME: it starts with a dot). */
export function tempName(): string {
  return `${TEMP_PREFIX}${randomBytes(12).toString('hex')}`;
}

/**
 * Checks a file part's form field name, which is its display name. SimpleBus: an empty one is 400 `NO FILE`.
 * Control characters (NUL included) are refused: they cannot be stored in a PostgreSQL text column and have
 * no business in a name shown to a user.
 */
export function checkDisplayName(name: string | undefined): string {
  if (name === undefined || name === '') throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', ['NO FILE']);
  if (name.length > MAX_DISPLAY_NAME || /[\u0000-\u001f\u007f]/.test(name) || !name.isWellFormed()) {
    throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', [`a file's form field name (its display name) must be 1-${MAX_DISPLAY_NAME} characters without control characters`]);
  }
  return name;
}

/** werkzeug's `secure_filename`, bounded: `../../etc/passwd` → `etc_passwd`, `фото.jpg` → `jpg`, `` → `file`. */
export function safeName(display: string): string {
  let s = display
    .normalize('NFKD')
    .replace(/[^\x20-\x7e]/g, '')
    .replace(/[/\\]/g, ' ')
    .trim()
    .split(/\s+/)
    .join('_')
    .replace(/[^A-Za-z0-9_.-]/g, '')
    .replace(/^[._]+|[._]+$/g, '');
  if (s.length > MAX_SAFE_NAME) {
    // Keep a short extension: the recipient's app may go by it.
    const ext = /\.[A-Za-z0-9]{1,10}$/.exec(s)?.[0] ?? '';
    s = s.slice(0, MAX_SAFE_NAME - ext.length) + ext;
  }
  return s || 'file';
}

/** A message `_id` as part of a file name: anything but `[A-Za-z0-9_.-]` becomes `_`, and it never starts with a dot. */
export function safeId(mid: string): string {
  return mid.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\./, '_');
}

/** The stored name of one file: `<_id>_<name>`, as SimpleBus writes it. */
export function storedName(mid: string, display: string): string {
  return `${safeId(mid)}_${safeName(display)}`;
}
