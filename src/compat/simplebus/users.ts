/**
 * @module compat/simplebus/users
 * SimpleBus's users, in the handler's own database (two tables of its own beside the messages, created through
 * the store's knex: SQLite, PostgreSQL and MySQL/MariaDB alike):
 *
 * - `<table>_users`: `id` (the bus user, SimpleBus's `_id`), `hash` (argon2id), `props` (`connection_properties`
 *   as JSON text, or null), `updated_at`;
 * - `<table>_tags`: one row per (user, tag), so "who has tag t" is an indexed lookup, not a scan of JSON text.
 *
 * Passwords are hashed with argon2id (the `argon2` package, OWASP's minimum parameters: 19 MiB, 2 passes) and
 * checked with `argon2.verify`, which compares in constant time. An unknown user is verified against a dummy
 * hash, so the answer takes as long as for a known user with a wrong password.
 *
 * Every HTTP request of a bus client carries Basic credentials, and argon2 costs ~25 ms of a libuv thread by
 * design: a verified (user, password) is remembered for CACHE_MS as a salted SHA-256, and only while the user's
 * stored hash is the one it was verified against (the row is read on every request, so a password changed on
 * any node ends it at once).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import argon2 from 'argon2';
import type { Knex } from 'knex';
import { AddressRates } from '../../auth/rate.js';
import { MhError } from '../../errors.js';

/** argon2id parameters (OWASP Password Storage Cheat Sheet: m=19 MiB, t=2, p=1). */
const HASH_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** How long a verified password is remembered (it is also forgotten when the user's hash changes). */
const CACHE_MS = 60_000;
/** Most remembered verifications (the map is emptied when full). */
const CACHE_MAX = 10_000;
/**
 * argon2 verifications (those the cache does not answer) per client address: a burst, then a rate. Each costs
 * ~25 ms of one of libuv's 4 threads, so without this one address sending wrong passwords (or unknown users) stalls
 * every other client's login and file I/O (measured: 400 wrong Basic credentials held a correct one for 19 s), and
 * guesses passwords as fast as the threads allow. The burst lets a few dozen devices behind one NAT log in at once.
 */
export const CHECKS_PER_SECOND = 5;
export const CHECKS_BURST = 20;

/** A bus user id: what SimpleBus clients type as `BusID`. `|` and control characters would break addressing. */
const USER_ID = /^[^\s|@#$\u0000-\u001f\u007f][^|\u0000-\u001f\u007f]{0,127}$/u;
/** A tag: no `|`, no control characters, at most 128 characters. */
const TAG = /^[^|\u0000-\u001f\u007f]{1,128}$/u;
/** Most users in one put_users request, and tags per user. */
export const MAX_USERS_PER_REQUEST = 1000;
const MAX_TAGS = 100;

/** How a user receives messages. */
export interface PushTarget {
  /** Base URL: msghub POSTs to `<url>/data`. */
  url: string;
  /** Basic credentials for that POST (connection_properties.authorization), if any. */
  basic: { user: string; password: string } | null;
}

/** One user as stored. */
export interface UserRecord {
  id: string;
  hash: string;
  /** `connection_properties`, parsed (null-prototype), or null. */
  props: Record<string, unknown> | null;
}

/** A user as put_users receives it, checked. */
export interface UserInput {
  id: string;
  password: string;
  tags: string[];
  props: Record<string, unknown> | null;
}

export function usersTable(table: string): string {
  return `${table}_users`;
}
export function tagsTable(table: string): string {
  return `${table}_tags`;
}

/** The HTTP push target of a user whose connection_properties say `type: http` and give a `url`, else null. */
export function pushTarget(props: Record<string, unknown> | null): PushTarget | null {
  if (!props || props.type !== 'http' || typeof props.url !== 'string' || !/^https?:\/\//i.test(props.url)) return null;
  const auth = props.authorization as Record<string, unknown> | undefined;
  const basic =
    auth && typeof auth === 'object' && String(auth.type).toLowerCase() === 'basic'
      ? { user: String(auth.user ?? ''), password: String(auth.password ?? '') }
      : null;
  return { url: props.url.replace(/\/+$/, ''), basic };
}

/**
 * Checks put_users' body, with SimpleBus's answers: a non-array is `error updating user`; an item without
 * `_id` is `no _id in user`, without `password` `no password in user`. We also refuse what SimpleBus would store
 * and then never route (an id with `|` or spaces, a non-string tag) rather than keep a user nobody can reach.
 */
export function parseUsers(body: unknown): UserInput[] {
  if (!Array.isArray(body)) throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', ['error updating user']);
  if (body.length > MAX_USERS_PER_REQUEST) throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', [`error updating user: at most ${MAX_USERS_PER_REQUEST} users per request`]);
  return body.map((u) => {
    if (!u || typeof u !== 'object' || Array.isArray(u)) throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', ['error updating user']);
    const o = u as Record<string, unknown>;
    if (!Object.hasOwn(o, '_id')) throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', ['no _id in user']);
    if (!Object.hasOwn(o, 'password')) throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', ['no password in user']);
    const id = o._id;
    if (typeof id !== 'string' || !USER_ID.test(id)) {
      throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', ['error updating user: _id must be 1-128 characters without |, control characters or a leading @ # $ or space']);
    }
    if (typeof o.password !== 'string' || o.password.length > 1024) throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', ['error updating user: password must be text']);
    const tags = o.tags ?? [];
    if (!Array.isArray(tags) || tags.length > MAX_TAGS || !tags.every((t) => typeof t === 'string' && TAG.test(t))) {
      throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', [`error updating user: tags must be a list of at most ${MAX_TAGS} texts without |`]);
    }
    const cp = o.connection_properties;
    if (cp !== undefined && cp !== null && (typeof cp !== 'object' || Array.isArray(cp))) {
      throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', ['error updating user: connection_properties must be an object']);
    }
    return { id, password: o.password, tags: [...new Set(tags as string[])], props: (cp as Record<string, unknown> | undefined) ?? null };
  });
}

export class Users {
  readonly users: string;
  readonly tags: string;
  /** Verified credentials: user → {the hash they were checked against, salted digest of the password, until}. */
  private readonly verified = new Map<string, { hash: string; digest: Buffer; until: number }>();
  private readonly salt = randomBytes(16);
  private dummy: Promise<string> | null = null;
  /** Password checks per client address (bounded: AddressRates forgets idle and least recent addresses). */
  private readonly checks = new AddressRates({ ratePerSec: CHECKS_PER_SECOND, burst: CHECKS_BURST });

  constructor(
    private readonly knex: Knex,
    table: string,
  ) {
    this.users = usersTable(table);
    this.tags = tagsTable(table);
  }

  /** Creates both tables if missing; safe when two processes start together. */
  async init(): Promise<void> {
    const create = async (name: string, build: (t: Knex.CreateTableBuilder) => void): Promise<void> => {
      if (await this.knex.schema.hasTable(name)) return;
      try {
        await this.knex.schema.createTable(name, build);
      } catch (err) {
        if (!(await this.knex.schema.hasTable(name))) throw err;
      }
    };
    await create(this.users, (t) => {
      t.string('id', 128).primary();
      t.text('hash').notNullable();
      t.text('props').nullable();
      t.string('updated_at', 32).notNullable();
    });
    await create(this.tags, (t) => {
      t.string('user_id', 128).notNullable();
      t.string('tag', 128).notNullable();
      t.primary(['user_id', 'tag']);
      t.index(['tag'], `${this.tags}_tag`);
    });
  }

  async count(): Promise<number> {
    const r = await this.knex(this.users).count({ n: '*' }).first();
    return Number(r?.n ?? 0);
  }

  async get(id: string): Promise<UserRecord | null> {
    const r = await this.knex(this.users).select('id', 'hash', 'props').where('id', id).first();
    return r ? { id: String(r.id), hash: String(r.hash), props: parseProps(r.props) } : null;
  }

  /**
   * Inserts or updates users (SimpleBus's put_users: "update = resend"): password, tags and connection
   * properties are replaced. Hashing happens before the transaction, so it holds no lock while argon2 runs.
   */
  async upsert(list: readonly UserInput[]): Promise<void> {
    const rows: { u: UserInput; hash: string }[] = [];
    for (const u of list) rows.push({ u, hash: await argon2.hash(u.password, HASH_OPTIONS) });
    const now = new Date().toISOString();
    await this.knex.transaction(async (trx) => {
      for (const { u, hash } of rows) {
        const row = { id: u.id, hash, props: u.props ? JSON.stringify(u.props) : null, updated_at: now };
        await trx(this.users).insert(row).onConflict('id').merge(['hash', 'props', 'updated_at']);
        await trx(this.tags).where('user_id', u.id).delete();
        if (u.tags.length) await trx(this.tags).insert(u.tags.map((tag: string) => ({ user_id: u.id, tag })));
      }
    });
  }

  /**
   * Inserts one user unless the id exists (the signup page). Returns false for a duplicate id, whichever of two
   * racing requests loses.
   */
  async create(u: UserInput): Promise<boolean> {
    const hash = await argon2.hash(u.password, HASH_OPTIONS);
    const now = new Date().toISOString();
    try {
      const n = await this.knex(this.users).insert({ id: u.id, hash, props: null, updated_at: now }).onConflict('id').ignore();
      // knex reports the inserted count differently per driver; ask rather than guess.
      void n;
      const r = await this.knex(this.users).select('hash').where('id', u.id).first();
      return !!r && String(r.hash) === hash;
    } catch {
      return false;
    }
  }

  /**
   * The user if `password` is theirs, else null. Constant-time (argon2.verify), also for unknown users. `ip`: the
   * client's address; a check the cache cannot answer takes one of its CHECKS_PER_SECOND, and throws
   * MH_ERR_RATE_LIMITED (429) when it has none left.
   */
  async verify(id: string, password: string, ip: string): Promise<UserRecord | null> {
    if (id.length > 128 || password.length > 1024) return null;
    const user = await this.get(id);
    const digest = createHash('sha256').update(this.salt).update(password, 'utf8').digest();
    if (user) {
      const hit = this.verified.get(id);
      if (hit && hit.hash === user.hash && hit.until > Date.now() && timingSafeEqual(hit.digest, digest)) return user;
    }
    if (!this.checks.take(ip)) throw new MhError('MH_ERR_RATE_LIMITED', [`at most ${CHECKS_PER_SECOND} password checks a second from one address`]);
    let ok = false;
    try {
      ok = await argon2.verify(user ? user.hash : await this.dummyHash(), password);
    } catch {
      ok = false;
    }
    if (!ok || !user) return null;
    if (this.verified.size >= CACHE_MAX) this.verified.clear();
    this.verified.set(id, { hash: user.hash, digest, until: Date.now() + CACHE_MS });
    return user;
  }

  private dummyHash(): Promise<string> {
    return (this.dummy ??= argon2.hash(randomBytes(16).toString('hex'), HASH_OPTIONS));
  }

  /**
   * Who `to` reaches, as SimpleBus routes it: `@user` that user if it exists (the sender too), `$all` every user
   * including the sender, `#tag` (or a bare `tag`, as SimpleBus's docs write it) every user with that tag except
   * the sender. Each recipient once, with their push target (null: a WebSocket user). Read from the database at
   * send time: the tags a user has when the message is sent decide, as in SimpleBus's router.
   */
  async expand(sender: string, to: readonly string[]): Promise<{ id: string; push: PushTarget | null }[]> {
    const named = new Set<string>();
    const tags = new Set<string>();
    let all = false;
    for (const t of to) {
      if (t === '$all') all = true;
      else if (t.startsWith('@')) named.add(t.slice(1));
      else if (t.startsWith('#')) tags.add(t.slice(1));
      else if (t) tags.add(t);
    }
    const ids = new Set<string>();
    let rows: Record<string, unknown>[];
    if (all) rows = await this.knex(this.users).select('id', 'props');
    else {
      if (tags.size) {
        const tagged = await this.knex(this.tags).distinct('user_id').whereIn('tag', [...tags]);
        for (const r of tagged) if (String(r.user_id) !== sender) ids.add(String(r.user_id));
      }
      for (const n of named) ids.add(n);
      rows = [];
      const list = [...ids];
      for (let i = 0; i < list.length; i += 500) rows.push(...(await this.knex(this.users).select('id', 'props').whereIn('id', list.slice(i, i + 500))));
    }
    return rows.map((r) => ({ id: String(r.id), push: pushTarget(parseProps(r.props)) })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}

function parseProps(v: unknown): Record<string, unknown> | null {
  if (typeof v !== 'string' || v === '') return null;
  try {
    const o = JSON.parse(v) as unknown;
    return o && typeof o === 'object' && !Array.isArray(o) ? Object.assign(Object.create(null), o) : null;
  } catch {
    return null;
  }
}
