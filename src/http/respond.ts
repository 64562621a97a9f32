/**
 * @module http/respond
 * Small helpers that write complete HTTP responses. Error bodies are short plain text (or JSON) and never
 * carry stack traces; `nosniff` stops a browser from reading a text error as HTML or script.
 */

import type http from 'node:http';
import type { MhError } from '../errors.js';
import { msghubCodec } from '../protocol/msghub.js';

const JSON_TYPE = 'application/json; charset=utf-8';

/** Extra response headers. */
export type Headers = Record<string, string | number | readonly string[]>;

/** Sends `text` as `text/plain; charset=utf-8`. The body is omitted for HEAD requests, the headers are not. */
export function sendText(res: http.ServerResponse, status: number, text: string, headers: Headers = {}): void {
  send(res, status, Buffer.from(text, 'utf8'), 'text/plain; charset=utf-8', headers);
}

/** Sends `body` as JSON. */
export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Headers = {}): void {
  sendJsonText(res, status, JSON.stringify(body), headers);
}

/**
 * Sends a catalogued error as msghub's protocol writes it (`{"_error": {code, message}}`, built by its codec), with
 * the error's HTTP status unless `status` says otherwise.
 */
export function sendError(res: http.ServerResponse, err: MhError, headers: Headers = {}, status = err.status): void {
  sendJsonText(res, status, msghubCodec.error(err), { ...retryAfter(status), ...headers });
}

/** A 503 (the write queue is full, the database is down, shutting down) says when to try again. */
export function retryAfter(status: number): Headers {
  return status === 503 ? { 'Retry-After': '1' } : {};
}

/** Sends text that already is JSON (frames joined into an array, say) without parsing and re-serializing it. */
export function sendJsonText(res: http.ServerResponse, status: number, json: string, headers: Headers = {}): void {
  send(res, status, Buffer.from(json, 'utf8'), JSON_TYPE, headers);
}

/** The headers of a JSON response whose length is not known up front (it is streamed, chunked). */
export function jsonStreamHeaders(): Record<string, string> {
  return { 'Content-Type': JSON_TYPE, 'X-Content-Type-Options': 'nosniff' };
}

function send(res: http.ServerResponse, status: number, body: Buffer, type: string, headers: Headers): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': body.length,
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}
