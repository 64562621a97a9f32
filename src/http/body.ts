/**
 * @module http/body
 * The messages of an HTTP publish body, whoever read the body: msghub, from the request stream, or a
 * framework's body parser that ran first (Express `express.json()`, `express.text()`, `express.raw()`). Either
 * way the same bounds apply before any message runs: the body's bytes, the number of messages, each message's
 * depth, text and size. A refusal here refuses the whole body, so nothing of it is stored.
 */
import type { IncomingMessage } from 'node:http';
import { MhError } from '../errors.js';
import { parseJson } from '../pipeline/parse.js';
import { checkUntrusted } from '../pipeline/untrusted.js';

export interface BodyLimits {
  /** Most bytes of the body as a whole. */
  maxBodyBytes: number;
  /** Most bytes of one message (`max_message_bytes`, the WebSocket frame limit). */
  maxMessageBytes: number;
  /** Most messages in one body. */
  maxItems: number;
  /** The message an empty body stands for (a `DELETE /chat?id=…`); without it an empty body is not JSON. */
  empty?: object;
}

export interface BodyMessages {
  /** Whether the body was an array (the answer is then an array too). */
  array: boolean;
  /** The messages, not yet checked for being objects (each is answered on its own). */
  items: unknown[];
  /** Each message's size in bytes (for the write-queue bound). */
  bytes: number[];
}

/** Reads, parses and bounds a publish body. Throws the catalogued MhError that refuses it whole. */
export async function readMessages(req: IncomingMessage, limits: BodyLimits): Promise<BodyMessages> {
  const text = alreadyRead(req) ? parsedBodyText(req, limits) : await readText(req, limits.maxBodyBytes);
  const size = Buffer.byteLength(text, 'utf8');
  const value = limits.empty !== undefined && text.trim() === '' ? limits.empty : parseJson(text);
  const array = Array.isArray(value);
  const items: unknown[] = array ? value : [value];
  if (items.length > limits.maxItems) throw new MhError('MH_ERR_HTTP_BODY', [`at most ${limits.maxItems} messages per request`]);
  // Depth first: a value nested past the bound is never serialized or walked any further.
  for (const item of items) checkUntrusted(item);
  return { array, items, bytes: itemSizes(items, array, size, limits.maxMessageBytes) };
}

/**
 * Each message's size: its compact JSON's bytes (what is stored and broadcast; whitespace between tokens does
 * not count). A body within the per-message limit cannot hold a message over it, so it is not measured: a
 * single message is its body's size, an array's items share it evenly.
 */
function itemSizes(items: unknown[], array: boolean, size: number, limit: number): number[] {
  if (size <= limit) {
    const each = array ? Math.ceil(size / Math.max(1, items.length)) : size;
    return items.map(() => each);
  }
  return items.map((item, i) => {
    const bytes = Buffer.byteLength(JSON.stringify(item) ?? '', 'utf8');
    if (bytes > limit) {
      throw new MhError('MH_ERR_MSG_TOO_LARGE', [bytes, limit], {
        message: array ? `Message ${i} of the body is ${bytes} bytes; the limit is ${limit}` : undefined,
      });
    }
    return bytes;
  });
}

/**
 * Whether something else already read the request stream (a body parser mounted before msghub). Reading it
 * again would wait forever for an `end` that already happened.
 */
function alreadyRead(req: IncomingMessage): boolean {
  return req.readableEnded || req.readableDidRead;
}

/** Form parsers turn a JSON text sent as a form (curl -d's default type) into a meaningless `{text: ''}`. */
const FORM_TYPE = /^\s*(application\/x-www-form-urlencoded|multipart\/form-data)\b/i;

/**
 * The JSON text of a body a framework parsed: a JSON value (express.json), a string (express.text) or a Buffer
 * (express.raw). Bounded like a body msghub reads itself; a body consumed and not kept is refused, never waited on.
 */
function parsedBodyText(req: IncomingMessage, limits: BodyLimits): string {
  const body = (req as { body?: unknown }).body;
  if (body === undefined) {
    throw new MhError('MH_ERR_HTTP_BODY', ['it was read by another middleware that kept nothing; mount msghub before body parsers']);
  }
  if (FORM_TYPE.test(req.headers['content-type'] ?? '')) {
    throw new MhError('MH_ERR_HTTP_BODY', ['a form parser read it; send JSON, or mount msghub before body parsers']);
  }
  let text: string;
  if (typeof body === 'string') text = body;
  else if (Buffer.isBuffer(body)) text = body.toString('utf8');
  else {
    // A parsed value is checked before it is serialized: JSON.stringify throws on a deep (or cyclic) one.
    for (const item of Array.isArray(body) ? body : [body]) checkUntrusted(item);
    let json: string | undefined;
    try {
      json = JSON.stringify(body);
    } catch {
      json = undefined;
    }
    if (json === undefined) throw new MhError('MH_ERR_HTTP_BODY', ['the parsed body is not a JSON value']);
    text = json;
  }
  const size = Buffer.byteLength(text, 'utf8');
  if (size > limits.maxBodyBytes) throw new MhError('MH_ERR_MSG_TOO_LARGE', [size, limits.maxBodyBytes], { message: `Request body is ${size} bytes; the limit is ${limits.maxBodyBytes}` });
  return text;
}

/** Reads the request stream as UTF-8 text of at most `limit` bytes. Settles however the request ends. */
function readText(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      reject(err);
    };
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) {
        fail(new MhError('MH_ERR_MSG_TOO_LARGE', [size, limit], { message: `Request body is more than ${limit} bytes` }));
        // Let the rest drain so the 413 can be read by the client.
        chunks.length = 0;
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', fail);
    // A client that hangs up mid-body: no 'end' will come.
    req.on('close', () => fail(new MhError('MH_ERR_HTTP_BODY', ['the client closed the request before its end'])));
  });
}
