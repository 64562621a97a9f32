/**
 * @module compat/simplebus/runtime
 * One mounted SimpleBus on this process: its users, its delivery rows, the bus users connected here, and the
 * three timers (application pings, socket redelivery, HTTP push). Routes (http.ts) and sockets (ws.ts) call it.
 *
 * Where each guarantee comes from:
 * - **Stored once, delivered live everywhere**: a queue message goes through `handler.submit` (HTTP) or the
 *   socket's session (WebSocket) into the one intake; `prepare` (addressing.ts) routes it; the commit writes it
 *   with one delivery row per recipient (deliveries.ts) in one transaction; the bus and the hub deliver it to
 *   every connected recipient on every node (filter: `recipients` contains `|me|`).
 * - **Until each recipient confirms**: every tick, this node claims the due rows of the users connected HERE and
 *   sends them again (`redelivery_seconds` after the last attempt); a confirmation, on any node, marks that
 *   recipient's row confirmed in the database, so no node sends it again. After `max_redeliveries` the row is
 *   `dead` (kept; a late confirmation still counts).
 * - **Offline recipients** get their pending rows, oldest first, once their socket is authenticated and live.
 *   A message committed while that replay runs can arrive twice (live and replayed): SimpleBus clients already
 *   drop a repeated `_id` (SimpleBus itself redelivers freely).
 * - **Direct** messages are the core's direct path (never stored): over HTTP the call waits until a recipient
 *   confirms, on any node (a `confirmed` notice crosses the bus), or `direct_timeout_seconds`.
 *
 * The per-user map of sockets here (`connections`) is not a fan-out path (the hub delivers messages): it is
 * what redelivery needs to know which due rows this node can send, and whom to ping.
 */
import type { ServerResponse } from 'node:http';
import type { Knex } from 'knex';
import type { MhError } from '../../errors.js';
import { parseFilter, type Filter } from '../../filter/index.js';
import type { MessageHandler } from '../../core/handler.js';
import type { Subscriber } from '../../core/subscriber.js';
import type { Member } from '../../hub/hub.js';
import type { Logger } from '../../log.js';
import type { Codec } from '../../protocol/codec.js';
import { SEQ_COLUMN } from '../../store/columns.js';
import type { Payload, Sink } from '../../transport/sink.js';
import { emptyArgs, type Row } from '../../types.js';
import { Deliveries, iso, splitIds } from './deliveries.js';
import * as files from './files.js';
import { PushWorker } from './push.js';
import { Users } from './users.js';
import { parseWire, toIntake, type FileFields, type Notice, type WireMessage } from './codec.js';

export interface SimpleBusOptions {
  redeliveryMs: number;
  maxRedeliveries: number;
  pingMs: number;
  uidRequired: boolean;
  directTimeoutMs: number;
  filesPath: string | null;
  maxFileBytes: number;
}

/** One authenticated bus socket on this node. */
export interface BusConn {
  user: string;
  sink: Sink;
  sub: Subscriber | null;
}

/** Due rows read per redelivery pass. */
const SCAN_BATCH = 500;

export class SimpleBusRuntime {
  readonly users: Users;
  readonly deliveries: Deliveries;
  readonly push: PushWorker;
  readonly knex: Knex;
  readonly files: files.FilesContext;
  private readonly connections = new Map<string, Set<BusConn>>();
  /** HTTP `direct` calls waiting for a confirmation, by `_id`. */
  private readonly waiting = new Map<string, Set<() => void>>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly unsubscribe: (() => void)[] = [];
  private scanning: Promise<void> | null = null;
  private closed = false;

  constructor(
    readonly handler: MessageHandler,
    readonly options: SimpleBusOptions,
    readonly codec: Codec,
    private readonly log: Logger,
    answer: (res: ServerResponse, err: MhError) => void,
  ) {
    this.knex = handler.store.knex();
    const table = handler.config.table;
    this.users = new Users(this.knex, table);
    this.deliveries = new Deliveries(this.knex, table, options.redeliveryMs);
    this.push = new PushWorker(this.deliveries, this.users, { ...options, body: (seq) => this.body(seq) }, log);
    this.files = {
      options,
      submitFile: (user, wire, file) => this.submit(user, parseWire(wire), { type: 'file', ...file }),
      isRecipient: (user, name) => this.isRecipientOfFile(user, name),
      answer,
      maxMessageBytes: handler.config.maxMessageBytes,
    };
  }

  async init(): Promise<void> {
    await this.users.init();
    await this.deliveries.init();
    // Two members of this handler's hub, on every node: a direct message's confirmation releases the HTTP call
    // waiting for it here, and a committed message with push recipients wakes the push worker at once.
    this.member(this.filter({ notice: ['confirmed'] }), (row) => this.release(String(row.mid)));
    this.member(this.filter({ 'push~': ['|'] }), () => this.push.kick());
    const tick = Math.max(20, Math.min(1000, Math.floor(this.options.redeliveryMs / 4)));
    this.every(tick, () => this.scan());
    this.every(tick, () => this.push.kick());
    this.every(this.options.pingMs, () => this.ping());
    this.push.kick();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    for (const u of this.unsubscribe) u();
    for (const set of this.waiting.values()) for (const w of set) w();
    this.waiting.clear();
    await Promise.all([this.scanning, this.push.stop()]);
  }

  /** A filter on this handler's columns (one comparison; bounded as a subscription filter). */
  filter(args: Record<string, string[]>): Filter {
    const a = emptyArgs();
    Object.assign(a, args);
    return parseFilter(a, this.handler.config.columns, { maxConditions: 4, maxNeedle: 200 });
  }

  /** The live filter of a bus user's socket: messages routed to them (and notices for them). */
  filterFor(user: string): Filter {
    return this.filter({ 'recipients~': [`|${user}|`] });
  }

  private member(filter: Filter, on: (row: Row) => void): void {
    const m: Member = {
      filter,
      codec: this.codec,
      deliver: (_p: Payload, event) => {
        try {
          if (event.after) on(event.after);
        } catch (err) {
          this.log('warn', 'simplebus: a notice failed', err);
        }
      },
    };
    this.unsubscribe.push(this.handler.hub.subscribe(m));
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }

  // ── messages in ──

  /** One queue message from `user` through the one intake; resolves with the committed frame. */
  submit(user: string, m: WireMessage, extra: FileFields = {}): Promise<Row> {
    return this.handler.submit(toIntake({ ...m, direct: false }, extra), this.scope(user), 0);
  }

  /** A direct message from `user`: live only. Resolves with the frame (its `recipients`). */
  submitDirect(user: string, m: WireMessage): Promise<Row> {
    return this.handler.submitDirect(toIntake({ ...m, direct: false }), this.scope(user));
  }

  private scope(user: string): ReturnType<MessageHandler['scopeFor']> {
    return this.handler.scopeFor({ args: emptyArgs(), user: { id: user }, sessionId: null, ip: '', headers: {} });
  }

  /** Resolves when a recipient confirms `mid` (any node), or false after the direct timeout. */
  waitConfirmation(mid: string): { done: Promise<boolean>; cancel(): void } {
    let set = this.waiting.get(mid);
    if (!set) this.waiting.set(mid, (set = new Set()));
    let resolve!: (v: boolean) => void;
    const done = new Promise<boolean>((r) => (resolve = r));
    const waiter = (): void => {
      clearTimeout(timer);
      set!.delete(waiter);
      if (!set!.size) this.waiting.delete(mid);
      resolve(!this.closed);
    };
    const timer = setTimeout(() => {
      set!.delete(waiter);
      if (!set!.size) this.waiting.delete(mid);
      resolve(false);
    }, this.options.directTimeoutMs);
    set.add(waiter);
    return { done, cancel: () => waiter() };
  }

  private release(mid: string): void {
    const set = this.waiting.get(mid);
    if (set) for (const w of [...set]) w();
  }

  // ── confirmations ──

  /**
   * `user` confirmed `mid` (a socket frame on this node). Their delivery rows of it are confirmed in the
   * database (so every node stops redelivering); a message every recipient confirmed goes to the file part;
   * `confirm` forwards `{"type":"confirmation","data":mid}` to that user, on whatever node they are.
   */
  async confirm(user: string, mid: string, confirm: string | null): Promise<void> {
    const seqs = await this.deliveries.confirm(user, mid);
    if (!seqs.length) this.notice('confirmed', '', { mid, sender: user });
    for (const seq of seqs) {
      if (!(await this.deliveries.allConfirmed(seq))) continue;
      const row = await this.knex(this.handler.config.table).select('*').where(SEQ_COLUMN, seq).first();
      if (row && row.type === 'file') await files.onAllConfirmed(this.files, row as Row);
    }
    if (confirm) this.notice('confirmation', `|${confirm}|`, { mid, sender: user, body: JSON.stringify({ type: 'confirmation', data: mid }) });
  }

  /** A frame that is not a message, live on every node through the bus (never stored). */
  private notice(kind: Notice, recipients: string, values: Row): void {
    const row: Row = {};
    for (const c of this.handler.config.columns.keys()) row[c] = null;
    Object.assign(row, values, { notice: kind, recipients, id: `notice-${kind}-${values.mid}` });
    this.handler.publish([{ entry: this.handler.name, event: { seq: 0, method: 'POST', id: String(row.id), before: null, after: row, changed: [] }, frame: row }]);
  }

  // ── sockets on this node ──

  /** A socket authenticated and live: it is counted here, then gets what waits for its user, oldest first. */
  connected(conn: BusConn): void {
    let set = this.connections.get(conn.user);
    if (!set) this.connections.set(conn.user, (set = new Set()));
    set.add(conn);
    void this.redeliver([conn.user], true).catch((err) => this.log('warn', `simplebus: replay for ${conn.user} failed`, err));
  }

  disconnected(conn: BusConn): void {
    const set = this.connections.get(conn.user);
    if (!set) return;
    set.delete(conn);
    if (!set.size) this.connections.delete(conn.user);
  }

  private ping(): void {
    for (const set of this.connections.values()) for (const c of set) c.sink.sendText('{"type":"ping"}', 0);
  }

  private scan(): void {
    if (this.scanning || this.closed || !this.connections.size) return;
    this.scanning = this.redeliver([...this.connections.keys()], false)
      .catch((err) => this.log('warn', 'simplebus: redelivery pass failed', err))
      .finally(() => (this.scanning = null));
  }

  /**
   * Sends the due (or, with `all`, every pending) socket deliveries of these users, claiming each row first so
   * that no two nodes send the same attempt, in message order per user.
   */
  private async redeliver(users: string[], all: boolean): Promise<void> {
    for (let i = 0; i < users.length; i += 500) {
      const due = await this.deliveries.due(users.slice(i, i + 500), SCAN_BATCH, all);
      if (!due.length) continue;
      const bodies = await this.bodies(due.map((d) => d.seq));
      for (const row of due) {
        if (this.closed) return;
        if (row.attempts >= this.options.maxRedeliveries) {
          await this.deliveries.kill(row, `not confirmed after ${row.attempts} redeliveries`);
          continue;
        }
        const conns = this.connections.get(row.recipient);
        const body = bodies.get(row.seq);
        if (!conns?.size || body === undefined) continue;
        if (!(await this.deliveries.claim(row, this.options.redeliveryMs))) continue;
        for (const c of conns) c.sink.sendText(body, row.seq);
      }
    }
  }

  private async bodies(seqs: number[]): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    const unique = [...new Set(seqs)];
    for (let i = 0; i < unique.length; i += 500) {
      const rows = await this.knex(this.handler.config.table).select(SEQ_COLUMN, 'body').whereIn(SEQ_COLUMN, unique.slice(i, i + 500));
      for (const r of rows) out.set(Number(r[SEQ_COLUMN]), String(r.body));
    }
    return out;
  }

  private async body(seq: number): Promise<string | null> {
    return (await this.bodies([seq])).get(seq) ?? null;
  }

  private async isRecipientOfFile(user: string, name: string): Promise<boolean> {
    // Every message that ever stored this name (an `_id` reused once the earlier file was deleted), bounded.
    const rows = await this.knex(this.handler.config.table).select('recipients').where({ filename: name, type: 'file' }).limit(100);
    return rows.some((row) => splitIds(row.recipients).includes(user));
  }

  /** Delivery rows of one `_id` (tests, operators). */
  async status(mid: string): Promise<Row[]> {
    return this.deliveries.ofMessage(mid);
  }

  /** Now, as the delivery rows write it. */
  static now(): string {
    return iso();
  }
}
