/**
 * @module compat/simplebus/files
 * SimpleBus's file delivery (issue 19; reference/seed-systems.md §3.3, §3.4 "file", §3.7 test 12). The files
 * live in `files_path` (one folder; in a cluster every node must see the same folder: a shared mount), each
 * under a generated name (file-names.ts); everything else about a file message is the queue's.
 *
 * `upload(ctx, req, res, user)` — `POST /put` with `Message-Type: file` (multipart/form-data); http.ts checked
 * the Basic credentials (`user` is the sender):
 * - the body is streamed to temporary files (upload.ts: busboy, never a whole file in memory, `max_file_bytes`
 *   enforced while streaming: 413 and nothing kept); the form field `data` is the message JSON (`to`,
 *   `message`, `uid`…; `uid` is not required, as in SimpleBus); each file part's form FIELD NAME is its
 *   display name (an empty one, or no file at all: 400 `NO FILE`);
 * - each file gets its own message (SimpleBus overwrote one message per file under one `_id`, so only the last
 *   survived): the first has the request's `_id` (kept if the client sent one, else 32 hex digits), the n-th
 *   (n ≥ 2) `<_id>_<n>`; its file is linked from the temporary name to `<message _id>_<safe name>` (never
 *   replacing a file: an `_id` reused for the same name is refused, 400), then the message goes through
 *   `ctx.submitFile` (`type: "file"`, `filename`, `display_filename`): stored with its delivery rows and delivered
 *   like any queue message (confirmations, redelivery, offline replay, push users, other nodes), in file order;
 * - 200 with an empty body once every file message is committed. On a refusal before any commit, every file of
 *   the request is removed; if the n-th commit fails (the intake is full, say), the messages already committed
 *   stay (their recipients get them) and the rest are removed, and the refusal is answered.
 * - a file message routed to nobody (no recipient exists) keeps no file: nobody could download or confirm it.
 *
 * `download(ctx, req, res, user, name)` — `GET|HEAD /download/<name>`: only a recipient of the file's message
 * (`ctx.isRecipient`) gets it, else 404 `FILE NOT FOUND` (not 403: which names exist is nobody else's business);
 * served with `send` (http/send-file.ts): Range → 206, `Accept-Ranges: bytes`, ETag, `If-Range`, 416, streamed.
 * It is sent as `application/octet-stream`, an attachment, sandboxed: an uploaded HTML file opened in a browser
 * never runs in this origin.
 *
 * `remove(ctx, req, res, user, name)` — `DELETE /download/<name>`: a recipient deletes it: 200 with an empty
 * body, or 404 `FILE NOT FOUND`. The message and its delivery rows stay.
 *
 * `onAllConfirmed(ctx, message)` — the adapter (runtime.ts) calls this once EVERY recipient of a `type: "file"`
 * message confirmed it (a `dead` row keeps the file), on the node that received the last confirmation: the file
 * is deleted (already gone after a DELETE: fine). Never before: a recipient that has not confirmed may still
 * resume its download. HTTP push users confirm by answering the push (before they can download), so a push
 * confirmation does not count here (runtime.ts only calls this for socket confirmations); their files go with
 * their `DELETE`.
 */
import { link, mkdir, unlink } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { MhError, toMhError } from '../../errors.js';
import { sendFile } from '../../http/send-file.js';
import { checkUntrusted } from '../../pipeline/untrusted.js';
import type { Row } from '../../types.js';
import { parseWire } from './codec.js';
import { splitIds } from './deliveries.js';
import { STORED_NAME, storedName } from './file-names.js';
import { receive, removeFiles, type ReceivedFile } from './upload.js';

/** What the file part gets from the adapter (built in runtime.ts). */
export interface FilesContext {
  options: { filesPath: string | null; maxFileBytes: number };
  /** Largest `data` field (the message JSON), in bytes: the handler's `max_message_bytes` (default 64 KiB). */
  maxMessageBytes?: number;
  /** One file message through the normal queue path; resolves with its committed frame. */
  submitFile(user: string, wire: Record<string, unknown>, file: { filename: string; display_filename: string }): Promise<Row>;
  /** Whether `user` is a recipient of the file message whose stored `filename` is `name`. */
  isRecipient(user: string, name: string): Promise<boolean>;
  /** Answers a request with an MhError in SimpleBus's shape (status, text body). */
  answer(res: ServerResponse, err: MhError): void;
}

/** The longest `_id` (codec.ts): the n-th file's `<_id>_<n>` must fit it too. */
const MAX_ID = 128;
const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;

/** One file of a request, planned: its message `_id` and its stored name. */
interface Planned extends ReceivedFile {
  mid: string;
  filename: string;
  /** Linked to its stored name (the temporary file is gone). */
  stored: boolean;
}

/**
 * Answers a refusal of an upload at once. A client still sending has the rest of its body read and dropped (as
 * Node does for any unread body) so that it can read the answer: closing the connection under a client that
 * is still writing makes it fail with EPIPE/ECONNRESET before it sees the 413. The server's request timeout
 * bounds a client that never stops.
 */
function refuse(ctx: FilesContext, req: IncomingMessage, res: ServerResponse, err: unknown): void {
  if (!req.complete && !req.destroyed) req.resume();
  ctx.answer(res, toMhError(err));
}

export async function upload(ctx: FilesContext, req: IncomingMessage, res: ServerResponse, user: string): Promise<void> {
  const dir = ctx.options.filesPath;
  if (!dir) return refuse(ctx, req, res, new MhError('MH_ERR_SIMPLEBUS_NO_FILES'));
  let planned: Planned[] = [];
  let committed = 0;
  try {
    await mkdir(dir, { recursive: true });
    const got = await receive(req, dir, { maxFileBytes: ctx.options.maxFileBytes, maxFieldBytes: ctx.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES });
    planned = got.files.map((f) => ({ ...f, mid: '', filename: '', stored: false }));
    if (got.data === null) throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', ['no "data" field: the message JSON']);
    let value: unknown;
    try {
      value = JSON.parse(got.data);
    } catch {
      throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', ['the "data" field is not JSON']);
    }
    checkUntrusted(value);
    const m = parseWire(value);
    if (!planned.length) throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', ['NO FILE']);
    if (planned.length > 1 && m.mid.length + `_${planned.length}`.length > MAX_ID) {
      throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', [`"_id" is too long for ${planned.length} files (each file's message is "<_id>_<n>", at most ${MAX_ID} characters)`]);
    }
    planned.forEach((f, i) => {
      f.mid = i === 0 ? m.mid : `${m.mid}_${i + 1}`;
      f.filename = storedName(f.mid, f.display);
    });
    // Every file under its stored name before any message is committed. `link` never replaces a file.
    for (const f of planned) {
      try {
        await link(f.tmp, path.join(dir, f.filename));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', [`a file ${f.filename} is there already: send this message with another "_id"`]);
        }
        throw err;
      }
      f.stored = true;
      await unlink(f.tmp).catch(() => undefined);
    }
    for (const f of planned) {
      const frame = await ctx.submitFile(user, { ...m.wire, _id: f.mid }, { filename: f.filename, display_filename: f.display });
      committed++;
      if (!splitIds(frame.recipients).length) await unlink(path.join(dir, f.filename)).catch(() => undefined);
    }
  } catch (err) {
    const rest = planned.slice(committed);
    await removeFiles(rest.map((f) => (f.stored ? path.join(dir, f.filename) : f.tmp)));
    // Linked but not unlinked yet (the link failed later): both names.
    await removeFiles(rest.filter((f) => f.stored).map((f) => f.tmp));
    return refuse(ctx, req, res, err);
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': '0' });
  res.end();
}

/** The file `name` may name, if `user` may have it; else answers 404 `FILE NOT FOUND` and gives null. */
async function fileOf(ctx: FilesContext, res: ServerResponse, user: string, name: string): Promise<string | null> {
  const dir = ctx.options.filesPath;
  if (!dir || !STORED_NAME.test(name) || !(await ctx.isRecipient(user, name))) {
    ctx.answer(res, new MhError('MH_ERR_SIMPLEBUS_FILE_NOT_FOUND'));
    return null;
  }
  return path.join(dir, name);
}

export async function download(ctx: FilesContext, req: IncomingMessage, res: ServerResponse, user: string, name: string): Promise<void> {
  const file = await fileOf(ctx, res, user, name);
  if (file === null) return;
  await sendFile(req, res, file, {
    headers: {
      'Content-Type': 'application/octet-stream',
      'Content-Disposition': 'attachment',
      'Content-Security-Policy': "default-src 'none'; sandbox",
      'Cache-Control': 'private, no-cache',
    },
    notFound: (r) => ctx.answer(r, new MhError('MH_ERR_SIMPLEBUS_FILE_NOT_FOUND')),
  });
}

export async function remove(ctx: FilesContext, _req: IncomingMessage, res: ServerResponse, user: string, name: string): Promise<void> {
  const file = await fileOf(ctx, res, user, name);
  if (file === null) return;
  try {
    await unlink(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return ctx.answer(res, new MhError('MH_ERR_SIMPLEBUS_FILE_NOT_FOUND'));
    throw err;
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': '0' });
  res.end();
}

export async function onAllConfirmed(ctx: FilesContext, message: Row): Promise<void> {
  const dir = ctx.options.filesPath;
  const name = message.filename;
  if (!dir || typeof name !== 'string' || !STORED_NAME.test(name)) return;
  await unlink(path.join(dir, name)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}
