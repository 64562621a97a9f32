/**
 * @module pipeline/ids
 * The ids the server gives POSTed messages: 22 URL-safe characters carrying 128 bits, the shape of Gramex's
 * base64url UUIDv4, but time-ordered. The bits are laid out as a UUIDv7 (RFC 9562): 48 bits of Unix time in
 * milliseconds, the version, a 12-bit counter that orders ids made in the same millisecond, the variant and 62
 * random bits. They are written 6 bits per character with the URL-safe alphabet in ASCII order, so ids sort
 * as text in the order they were made.
 *
 * Why: the id is the table's primary key. A random key lands each insert on a random page of the key's
 * index, which halves SQLite's insert rate (../shared/reference/perf-baseline.md, section D: 55k vs 120k
 * rows/s); a time-ordered key appends. The time an id reveals is already in the message's `timestamp`.
 */
import { randomFillSync } from 'node:crypto';

/** The 64 URL-safe characters in ASCII order: the encoding preserves the order of the bytes. */
const ALPHABET = '-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';

/** Random bytes are drawn in bulk: one getrandom() call per 512 ids. */
const POOL = Buffer.alloc(4096);
let poolAt = POOL.length;

let lastMs = 0;
let counter = 0;
const bytes = new Uint8Array(16);

/** A new time-ordered id. Strictly increasing within a process, even when the clock steps back. */
export function newId(now = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    // Start each millisecond low in the counter's range, at a random point: room for >2048 more ids in it.
    counter = nextRandomByte() << 3;
  } else if (++counter > 0xfff) {
    // 4096 ids in one millisecond (or a clock that went back): borrow the next millisecond.
    lastMs++;
    counter = 0;
  }
  let ms = lastMs;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = 0x70 | (counter >> 8);
  bytes[7] = counter & 0xff;
  if (poolAt + 8 > POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  bytes[8] = 0x80 | (POOL[poolAt]! & 0x3f);
  for (let i = 9; i < 16; i++) bytes[i] = POOL[poolAt + i - 8]!;
  poolAt += 8;
  return encode(bytes);
}

function nextRandomByte(): number {
  if (poolAt >= POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  return POOL[poolAt++]!;
}

/** 16 bytes → 22 characters, 6 bits each, most significant first (the last character holds 2 bits). */
function encode(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 15; i += 3) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
    s += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!;
  }
  return s + ALPHABET[b[15]! >> 2]! + ALPHABET[(b[15]! & 3) << 4]!;
}

/** The millisecond an id was made in (for tests and diagnostics); NaN for an id this module did not make. */
export function idTime(id: string): number {
  if (id.length !== 22) return NaN;
  let ms = 0;
  // The first 8 characters hold the first 48 bits: the time.
  for (let i = 0; i < 8; i++) {
    const v = ALPHABET.indexOf(id[i]!);
    if (v < 0) return NaN;
    ms = ms * 64 + v;
  }
  return ms;
}
