/**
 * @module http/send-file
 * Streams one file to an HTTP response with the `send` library: `Accept-Ranges: bytes`, a single `Range` → 206
 * with `Content-Range` (several ranges, or a syntactically bad one → the whole file, 200), an unsatisfiable one →
 * 416 with a `Content-Range` that gives the size, `If-Range` (an ETag or a date: stale → the whole file), a weak ETag
 * `W/"<size hex>-<mtime ms hex>"`, `Last-Modified`, conditional GET (304, `If-Match` → 412) and HEAD. Used by the
 * FileHandler and by SimpleBus's `/download/<name>`; both decide which file (their path and access rules) before
 * calling this: `send` is given an absolute path and no root, serves no index, no extensions and every name.
 *
 * Never rejects; resolves once the response is finished or closed (a client that hangs up mid-file ends the
 * read stream and frees its descriptor, which `send` does through on-finished). Memory stays flat: the file is
 * piped in 64 KiB chunks with the response's backpressure.
 *
 * The file is opened with `O_NOFOLLOW` (where the platform has it): `send` copies its options into the options of
 * `fs.createReadStream`, so `flags` reaches the open. A final-component symlink swapped in after the caller's
 * containment check is refused (ELOOP → answered as missing) rather than followed. test/http/file-range.test.ts
 * checks this still holds for the installed `send`.
 */
import { constants } from 'node:fs';
import type http from 'node:http';
import send from 'send';
import { sendText, type Headers } from './respond.js';

/** Open flags of every served file: read only, never through a final symlink. */
export const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0);

export interface SendFileOptions {
  /** Headers set before `send` writes its own: a `Content-Type`, `Cache-Control`, `ETag` or `Last-Modified` here wins. */
  headers?: Headers;
  /** Answers a missing file (ENOENT, ENOTDIR, ELOOP, not a regular file). Default: 404 `Not Found`. */
  notFound?: (res: http.ServerResponse) => void;
}

/** Status texts of the refusals `send` can make here. */
const REASON: Record<number, string> = { 412: 'Precondition Failed', 416: 'Range Not Satisfiable' };

/**
 * Serves `file` (an absolute path the caller already checked) for a GET or HEAD `req`.
 */
export function sendFile(req: http.IncomingMessage, res: http.ServerResponse, file: string, options: SendFileOptions = {}): Promise<void> {
  return new Promise((resolve) => {
    if (res.writableEnded || res.destroyed) return resolve();
    res.once('close', () => resolve());
    const notFound = (): void => {
      if (options.notFound) options.notFound(res);
      else sendText(res, 404, 'Not Found');
    };
    for (const [name, value] of Object.entries(options.headers ?? {})) res.setHeader(name, value);
    if (!res.hasHeader('x-content-type-options')) res.setHeader('X-Content-Type-Options', 'nosniff');
    const keep = new Map(res.getHeaderNames().map((n) => [n, res.getHeader(n)!]));
    // `send` decodes the path it is given (decodeURIComponent): escaping `%` alone makes that an identity.
    const stream = send(req, file.replace(/%/g, '%25'), {
      acceptRanges: true,
      cacheControl: false,
      dotfiles: 'allow',
      etag: true,
      extensions: false,
      index: false,
      lastModified: true,
      // Not in send's types: copied into fs.createReadStream's options (see the module comment).
      ...({ flags: OPEN_FLAGS } as object),
    });
    stream.on('directory', () => {
      restore(res, keep);
      notFound();
    });
    stream.on('error', (err: { status?: number; statusCode?: number; code?: string; headers?: Record<string, string> }) => {
      if (res.headersSent) {
        // The body has started: the only honest end is a cut connection (the client sees a short body).
        res.destroy();
        return;
      }
      restore(res, keep);
      const status = err.status ?? err.statusCode ?? 500;
      // ELOOP: the final component became a symlink after the caller's checks; EISDIR etc.: not a regular file.
      if (status === 404 || err.code === 'ELOOP' || err.code === 'EISDIR') return notFound();
      const extra: Headers = {};
      if (err.headers?.['Content-Range']) extra['Content-Range'] = err.headers['Content-Range'];
      sendText(res, status, REASON[status] ?? (status >= 500 ? 'Internal server error' : 'Bad Request'), extra);
    });
    stream.pipe(res);
  });
}

/** Drops what `send` set before it refused (Content-Length, Content-Range, 206…), keeping the caller's headers. */
function restore(res: http.ServerResponse, keep: Map<string, number | string | string[]>): void {
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  for (const [name, value] of keep) res.setHeader(name, value);
  res.statusCode = 200;
}
