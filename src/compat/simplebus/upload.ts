/**
 * @module compat/simplebus/upload
 * Receives one `Message-Type: file` request body (multipart/form-data) with busboy, streaming: each file part is
 * piped into its own new temporary file in `files_path` (created with `wx`, mode 0600), with busboy's and the
 * disk's backpressure, so memory holds a few 64 KiB chunks whatever the file's size. The `data` field (the
 * message JSON) is kept as text, bounded by `max_message_bytes`.
 *
 * Resolves once the whole body is parsed and every file is complete on disk (closed), with the fields and the
 * temporary files in the order they came; the caller renames (links) them to their stored names. Rejects with
 * an MhError on any refusal or failure — a file past `max_file_bytes` (413), too many parts, a malformed body,
 * a bad display name, a disk error, the client hanging up — and in every such case only after each temporary
 * file it created is closed and removed: nothing of a refused upload stays on disk.
 */
import { createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { MhError } from '../../errors.js';
import { checkDisplayName, tempName } from './file-names.js';

/** Most files in one request. */
export const MAX_FILES = 100;
/** Most non-file fields (only `data` is read). */
const MAX_FIELDS = 20;

export interface UploadLimits {
  /** Largest file, in bytes (`max_file_bytes`). */
  maxFileBytes: number;
  /** Largest `data` field, in bytes (`max_message_bytes`). */
  maxFieldBytes: number;
}

/** One received file, complete on disk under `tmp`. */
export interface ReceivedFile {
  tmp: string;
  display: string;
  size: number;
}

export interface Received {
  /** The first `data` field, or null. */
  data: string | null;
  files: ReceivedFile[];
}

interface Part {
  tmp: string;
  display: string;
  out: import('node:fs').WriteStream;
  closed: Promise<void>;
}

/** Removes temporary files (after they are closed), ignoring those already gone. */
export async function removeFiles(paths: readonly string[]): Promise<void> {
  await Promise.all(paths.map((p) => unlink(p).catch(() => undefined)));
}

export function receive(req: IncomingMessage, dir: string, limits: UploadLimits): Promise<Received> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
        // Display names are UTF-8 (SimpleUI, Python requests); busboy's default for parameters is latin1.
        defParamCharset: 'utf8',
        limits: {
          // busboy reports `limit` when a file REACHES fileSize: one byte more lets a file of exactly
          // max_file_bytes through.
          fileSize: limits.maxFileBytes + 1,
          files: MAX_FILES,
          fields: MAX_FIELDS,
          fieldSize: limits.maxFieldBytes + 1,
          parts: MAX_FILES + MAX_FIELDS,
        },
      });
    } catch {
      req.resume();
      reject(new MhError('MH_ERR_SIMPLEBUS_REQUEST', ['Message-Type: file needs a multipart/form-data body']));
      return;
    }
    const parts: Part[] = [];
    const writes: Promise<void>[] = [];
    let data: string | null = null;
    let failed = false;
    let settled = false;

    const fail = (err: MhError): void => {
      if (failed || settled) return;
      failed = true;
      req.unpipe(bb);
      // Keep reading (and dropping) what the client still sends, so that it can read the answer.
      if (!req.destroyed) req.resume();
      for (const p of parts) p.out.destroy();
      // Not from inside busboy's own callback: it goes on using its state after emitting (a sync destroy there
      // throws out of the request's data handler).
      setImmediate(() => bb.destroy());
      void Promise.all(parts.map((p) => p.closed))
        .then(() => removeFiles(parts.map((p) => p.tmp)))
        .then(() => reject(err));
    };

    bb.on('file', (name: string | undefined, stream: NodeJS.ReadableStream & { truncated?: boolean; resume(): void }, _info: unknown) => {
      // busboy destroys an unfinished part's stream with an error when the body breaks off: always heard.
      stream.on('error', () => undefined);
      if (failed) return void stream.resume();
      let display: string;
      try {
        display = checkDisplayName(name);
      } catch (err) {
        stream.resume();
        return fail(err as MhError);
      }
      const tmp = path.join(dir, tempName());
      const out = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
      parts.push({ tmp, display, out, closed: new Promise((r) => out.once('close', () => r())) });
      stream.once('limit', () => fail(new MhError('MH_ERR_SIMPLEBUS_FILE_TOO_LARGE', [display.slice(0, 200), limits.maxFileBytes])));
      writes.push(
        pipeline(stream, out).catch((err: NodeJS.ErrnoException) => {
          if (failed) return;
          // A disk error (full, read-only, gone) is the server's; anything else is a body that broke off.
          if (err.syscall) fail(new MhError('MH_ERR_INTERNAL', [], { cause: err }));
          else fail(new MhError('MH_ERR_HTTP_BODY', ['the body ended inside a file']));
        }),
      );
    });
    bb.on('field', (name: string, value: string, info: { valueTruncated: boolean }) => {
      if (failed || name !== 'data' || data !== null) return;
      if (info.valueTruncated) return fail(new MhError('MH_ERR_MSG_TOO_LARGE', [`more than ${limits.maxFieldBytes}`, limits.maxFieldBytes]));
      data = value;
    });
    bb.on('filesLimit', () => fail(new MhError('MH_ERR_SIMPLEBUS_REQUEST', [`at most ${MAX_FILES} files in one request`])));
    bb.on('fieldsLimit', () => fail(new MhError('MH_ERR_SIMPLEBUS_REQUEST', [`at most ${MAX_FIELDS} form fields in one request`])));
    bb.on('partsLimit', () => fail(new MhError('MH_ERR_SIMPLEBUS_REQUEST', [`at most ${MAX_FILES + MAX_FIELDS} parts in one request`])));
    bb.on('error', (err: Error) => fail(new MhError('MH_ERR_SIMPLEBUS_REQUEST', [`a malformed multipart body: ${err.message.slice(0, 100)}`])));
    // A client that hangs up mid-body: busboy never finishes, so the request's own end decides.
    req.once('close', () => {
      if (!req.complete) fail(new MhError('MH_ERR_HTTP_BODY', ['the client hung up']));
    });
    req.once('error', () => fail(new MhError('MH_ERR_HTTP_BODY', ['the client hung up'])));
    bb.once('finish', () => {
      // Every part is parsed; the last file may still be on its way to the disk.
      void Promise.all(writes).then(async () => {
        if (failed) return;
        await Promise.all(parts.map((p) => p.closed));
        if (failed) return;
        settled = true;
        resolve({ data, files: parts.map(({ tmp, display, out }) => ({ tmp, display, size: out.bytesWritten })) });
      });
    });
    req.pipe(bb);
  });
}
