/**
 * @module compat/x0/poll
 * x0's long poll on msghub's core: one poll is a one-way, durable subscriber of the handler (filter
 * `session_dst = <session>`, subscriber key = the session) whose sink collects what the replay and the live feed
 * send, released by the first live event or after `poll_timeout`.
 *
 * Delivery contract (at least once, where x0 deleted on read):
 * - a poll returns every message for its session not yet acknowledged, all at once, in commit (`_seq`) order;
 * - what a poll returned is acknowledged by that session's **next poll** (x0's client polls again only after it
 *   processed an answer), or at once by an explicit `DEL` request, and only if the answer was written out whole;
 * - a waiting poll is released as soon as a message for its session commits on any node (the bus and the feed
 *   bring it to this node's hub);
 * - "what a poll returned" is remembered by the node that answered it, in memory: a next poll that reaches
 *   another node, or this node after a restart or a SIGKILL, cannot prove the answer arrived, so the same messages
 *   are sent again (never lost; a duplicate is possible, which sticky upstreams avoid: docs/compat.md).
 *
 * The acknowledged position is msghub's durable cursor for the session key (Store.setCursor, monotonic), so it is
 * shared by every node and survives restarts.
 */
import type { ServerResponse } from 'node:http';
import type { ConnectionInfo, MessageHandler } from '../../core/handler.js';
import type { Subscriber } from '../../core/subscriber.js';
import { MhError } from '../../errors.js';
import { parseFilter, type Filter } from '../../filter/index.js';
import { CollectSocket } from '../../transport/collect.js';
import type { Logger } from '../../log.js';
import { emptyArgs } from '../../types.js';
import { ERROR_PREFIX, RESET_PREFIX, x0Codec } from './codec.js';

export interface PollOptions {
  /** How long a poll waits for a message (ms). */
  timeoutMs: number;
  /** Most messages in one answer (the rest come with the next poll). */
  maxMessages: number;
  /** Most bytes of messages' JSON in one answer (the message that passes it is the last one). */
  maxBytes: number;
}

/**
 * An empty poll moves its session's acknowledged position up to the committed sequence only when that skips at
 * least this many events: the next replay then does not read them again, and an idle client does not cost a
 * database write per poll.
 */
const EMPTY_ADVANCE = 500;

/** Sessions whose last answer is remembered (the oldest are forgotten first: their messages are sent again). */
const MAX_REMEMBERED = 100_000;

/** Writes an x0 answer: HTTP 200 and JSON, as x0's WSGI script answers everything. */
export type Answer = (res: ServerResponse, json: string) => void;

export class X0Polls {
  /**
   * Session → the highest sequence number its last complete answer covered: acknowledged by its next poll or
   * DEL. In insertion order, so the oldest entries are the first forgotten when the map is full.
   */
  private readonly delivered = new Map<string, number>();
  /** Polls waiting for a message, released (empty) when the adapter closes. */
  private readonly waiting = new Set<() => void>();
  private closed = false;

  constructor(
    private readonly handler: MessageHandler,
    private readonly options: PollOptions,
    private readonly answer: Answer,
    private readonly log: Logger,
  ) {}

  /** The filter of a session's poll: messages addressed to it. */
  private filterFor(session: string): Filter {
    const args = emptyArgs();
    args.session_dst = [session];
    return parseFilter(args, this.handler.config.columns, { maxConditions: 1 });
  }

  /**
   * Acknowledges what the session's last answer on this node covered: its durable cursor moves there. Returns the
   * session's acknowledged position (null: it never acknowledged anything).
   */
  async acknowledge(session: string): Promise<number | null> {
    const { store, name } = this.handler;
    const pending = this.delivered.get(session);
    let cursor = await store.getCursor(name, session);
    if (pending !== undefined) {
      // Only the value read above is removed: a newer answer's mark (a second tab of the session) stays.
      if (this.delivered.get(session) === pending) this.delivered.delete(session);
      if (cursor === null || pending > cursor) {
        await store.setCursor(name, session, pending);
        cursor = pending;
      }
    }
    return cursor;
  }

  private remember(session: string, seq: number): void {
    const had = this.delivered.get(session);
    if (had !== undefined && had >= seq) return;
    this.delivered.delete(session);
    if (this.delivered.size >= MAX_REMEMBERED) this.delivered.delete(this.delivered.keys().next().value!);
    this.delivered.set(session, seq);
  }

  /**
   * One poll: answers `res` with the session's unacknowledged messages, at once if there are any, else with the
   * first that commit within the poll timeout, else `{"messages": null}`. Never rejects for a client's doing: a
   * refusal is answered in x0's error shape.
   */
  async poll(res: ServerResponse, session: string, info: ConnectionInfo): Promise<void> {
    const handler = this.handler;
    if (this.closed) throw new MhError('MH_ERR_SHUTTING_DOWN');
    const full = handler.policy.connections.acquire(info.ip);
    if (full) throw full;
    let released = false;
    const release = (): void => {
      if (!released) handler.policy.connections.release(info.ip);
      released = true;
    };
    let cursor: number | null;
    let committed: number;
    const sink = new CollectSocket(this.options.maxMessages, this.options.maxBytes);
    let sub: Subscriber | null;
    try {
      cursor = await this.acknowledge(session);
      // Read before the subscription: its replay covers at least up to here (see `finish`).
      committed = await handler.store.committedSeq();
      sub = await handler.open(sink, info, { codec: x0Codec, filter: this.filterFor(session), key: session });
    } catch (err) {
      release();
      throw err;
    }
    let answered = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      this.waiting.delete(finish);
      sink.onFrame = null;
      // A full sink stopped taking events: later ones wait for the next poll.
      const capped = !sink.isOpen;
      if (sub) handler.disconnect(sub);
      release();
      if (res.writableEnded || res.destroyed) return;
      const { texts, last, error, floor } = this.collect(sink, cursor);
      if (texts.length === 0 && error) return this.answer(res, error);
      let mark: number | null;
      if (texts.length > 0) {
        // Everything for this session up to `committed` was in the replay, so an answer that was not cut short
        // covers it all; one that was covers up to its last message.
        mark = capped ? last : Math.max(last, committed);
      } else {
        mark = floor === null || committed - floor >= EMPTY_ADVANCE ? committed : null;
      }
      if (mark !== null && mark > 0) {
        const seq = mark;
        // Only an answer written out whole counts as delivered; one cut off is sent again.
        res.once('finish', () => this.remember(session, seq));
      }
      this.answer(res, texts.length ? `{"messages":[${texts.join(',')}]}` : '{"messages":null}');
    };
    if (!sub || sink.frames.length > 0 || this.closed) return finish();
    timer = setTimeout(finish, this.options.timeoutMs);
    this.waiting.add(finish);
    // The first live event: answer on the next turn, so the rest of its batch goes out with it.
    sink.onFrame = () => {
      sink.onFrame = null;
      setImmediate(finish);
    };
    // The client went away (`req`'s own 'close' fires once a POST body is read, so the response's is watched).
    res.once('close', () => {
      if (!res.writableEnded) finish();
    });
  }

  /** The messages a poll's sink collected (newer than the acknowledged position), and its error, if any. */
  private collect(sink: CollectSocket, cursor: number | null): { texts: string[]; last: number; error: string | null; floor: number | null } {
    const texts: string[] = [];
    let last = 0;
    let error: string | null = null;
    let floor = cursor;
    for (const p of sink.frames) {
      if (p.seq === 0) {
        if (p.text.startsWith(ERROR_PREFIX)) error ??= p.text;
        else if (p.text.startsWith(RESET_PREFIX)) {
          // The acknowledged position is older than the event record keeps: history follows, in which rows up to
          // that position were delivered already. (A position past the database's end means another database:
          // then every row is new.)
          const r = (JSON.parse(p.text) as { reset: { seq: number } }).reset;
          if (cursor !== null && cursor > r.seq) floor = null;
        }
        continue;
      }
      if (floor !== null && p.seq <= floor) continue;
      if (p.seq <= last) continue; // a redelivery of the same event within one poll: once is enough
      texts.push(p.text);
      last = p.seq;
    }
    return { texts, last, error, floor: cursor };
  }

  /** Releases every waiting poll (empty) and refuses new ones: the service is stopping. */
  close(): void {
    this.closed = true;
    for (const f of [...this.waiting]) {
      try {
        f();
      } catch (err) {
        this.log('warn', `url:${this.handler.name}: releasing an x0 poll failed`, err);
      }
    }
  }

}
