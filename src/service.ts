/**
 * @module service
 * MessageService: a whole gramex.yaml — url map, handlers, stores, alert workers — ready to be mounted on any
 * HTTP server. Built in two phases: `compileService` validates and compiles everything (no connections, no
 * files written: this is `msghub check`), then `startService` opens databases and starts workers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';
import {
  OutboxWorker,
  createMailer,
  ensureOutboxTable,
  parseEmailServices,
  type EmailService,
  type Mailer,
  type OutboxOptions,
} from './alert/index.js';
import { SERVER_DEFAULTS } from './config/defaults.js';
import { ADAPTERS, adapterFor, type Adapter, type AdapterHost, type MountedAdapter } from './compat/index.js';
import { DEFAULT_HANDLERS, inspectConfig, inspectConfigObject, type AppConfig, type LoadOptions, type UrlEntry } from './config/load.js';
import { compileMessageHandler, type MessageHandlerConfig } from './config/message-handler.js';
import { ConfigError, MhError, type ConfigIssue } from './errors.js';
import { MessageHandler } from './core/handler.js';
import type { Bus } from './bus/bus.js';
import { TableFeed } from './bus/feed.js';
import { createBus, parseBusSection, type BusConfig } from './bus/config.js';
import { isReconnectingBus } from './bus/redis.js';
import { admit, refuseUpgrade, type GateOptions } from './auth/gate.js';
import { parseTrustProxy, type TrustProxy } from './auth/proxy.js';
import { createAuthenticator, createSessions, parseAuthSection, type ConnectionCounter, type JwtAuthConfig } from './auth/index.js';
import { serveMessageHttp } from './http/message-http.js';
import { createFileHandler, validateFileHandler, type HttpHandler } from './http/file-handler.js';
import { sendError } from './http/respond.js';
import { compileRoutes, type Router } from './http/router.js';
import { consoleLogger, type Logger } from './log.js';
import { parseOpsConfig, type OpsConfig } from './ops/config.js';
import { readiness, status, type Readiness, type ServiceStatus } from './ops/health.js';
import { ServiceMetrics, type MetricsOptions } from './ops/metrics.js';
import type { OpsView } from './ops/view.js';
import { createStore } from './store/sql-store.js';
import type { Store } from './store/store.js';
import { requestId } from './transport/sink.js';
import { WsEndpoint } from './transport/ws-endpoint.js';
import { emptyArgs, type Args, type Method, type Row, type User } from './types.js';

export interface ServiceOptions {
  /**
   * Who is connecting (embedding): return the user (an object with an `id`) or null for anonymous. May be
   * async. Called once per WebSocket handshake and per HTTP request.
   */
  authenticate?: (req: IncomingMessage) => User | null | Promise<User | null>;
  log?: Logger;
  /** Environment for `$NAME` in the config. Default process.env. */
  env?: Record<string, string | undefined>;
  /** Interval between WebSocket keep-alive pings, ms. */
  pingIntervalMs?: number;
  /** Alert outbox worker settings (retry delays, lease, concurrency…); defaults in docs/alerts.md. */
  outbox?: Partial<OutboxOptions>;
  /** Interval between SSE keep-alive comments, ms. */
  sseKeepAliveMs?: number;
  /**
   * What carries committed events to the hubs (bus/bus.ts). Default: the config's `bus:` (a new LocalBus, or a
   * RedisBus). A bus given here is not closed by `close()`: its owner closes it.
   */
  bus?: Bus;
  /** With a bus that is not `reliable`: how often each table's feed asks the store for commits it missed (ms). */
  busSyncMs?: number;
}

/** A message for `MessageService.publish`: column values, and `_method` and `id` for a PUT or DELETE. */
export type PublishMessage = { _method?: Method; id?: string } & Row;

export interface PublishOptions {
  /** Who publishes: `handler.current_user` in expressions and the row's `user` on POST. Default null. */
  user?: User | null;
}

/** Where the configuration comes from: a YAML file path, or an object (with the folder `$YAMLPATH` means). */
export type ConfigSource = string | { config: unknown; baseDir?: string };

/** Everything compiled from the config, before any database is opened. */
export interface CompiledService {
  app: AppConfig;
  /** Every MessageHandler, and those an adapter made for its own protocol (with `adapter` and its options). */
  messageHandlers: { entry: UrlEntry; config: MessageHandlerConfig; adapter?: Adapter; options?: unknown }[];
  services: Map<string, EmailService>;
  /** The app-level `bus:` (local, or Redis between the nodes of a cluster). */
  bus: BusConfig;
  /** The app-level `auth:` section (JWT, token sources, session cookie), if any. */
  auth: JwtAuthConfig | null;
  /** The app-level `trust_proxy:`: which hops may name the client in `X-Forwarded-For`; null trusts none. */
  trustProxy: TrustProxy | null;
  /** The app-level `metrics:` and `health:` sections (ops/config.ts). */
  ops: OpsConfig;
}

/**
 * Loads, validates and compiles. Throws ConfigError listing every problem with its YAML path: one broken part
 * (a url entry without `pattern`, an unknown handler, a bad `email:`) never hides the problems of the others,
 * so `msghub check` reports them all in one run.
 */
export async function compileService(source: ConfigSource, options: Pick<ServiceOptions, 'env' | 'log'> = {}): Promise<CompiledService> {
  const loadOptions: LoadOptions = { env: options.env, handlers: [...DEFAULT_HANDLERS, ...ADAPTERS.map((a) => a.handler)] };
  const loaded =
    typeof source === 'string'
      ? await inspectConfig(source, loadOptions)
      : await inspectConfigObject(source.config, source.baseDir ?? process.cwd(), loadOptions);
  const app = loaded.config;
  const issues: ConfigIssue[] = [...loaded.issues];
  // A module the loader already reported (its file is missing) is not imported too: one problem, one line.
  const reported = new Set(loaded.issues.map((i) => i.path));

  // App modules are trusted code that expressions may call; import them before compiling expressions.
  const modules: Record<string, Record<string, unknown>> = {};
  for (const [name, { file, path, source: yaml }] of Object.entries(app.modules)) {
    if (reported.has(path)) continue;
    try {
      modules[name] = { ...((await import(pathToFileURL(file).href)) as Record<string, unknown>) };
    } catch (err) {
      issues.push({ path, message: `cannot import ${file}: ${(err as Error).message}`, file: yaml });
    }
  }

  const email = app.sections.email;
  const { services, issues: emailIssues } = email
    ? parseEmailServices(email.value, { path: email.path, file: email.file, yamlPath: email.yamlPath })
    : { services: new Map<string, EmailService>(), issues: [] };
  issues.push(...emailIssues);

  const authSection = app.sections.auth;
  const { config: auth, issues: authIssues } = authSection
    ? parseAuthSection(authSection.value, { path: authSection.path, file: authSection.file, yamlPath: authSection.yamlPath })
    : { config: null, issues: [] };
  issues.push(...authIssues);

  const trustSection = app.sections.trust_proxy;
  const { trust: trustProxy, issues: trustIssues } = parseTrustProxy(trustSection?.value, { path: 'trust_proxy', file: trustSection?.file ?? app.file });
  issues.push(...trustIssues);

  const busSection = app.sections.bus;
  const { config: bus, issues: busIssues } = parseBusSection(busSection?.value, { path: 'bus', file: busSection?.file ?? app.file });
  issues.push(...busIssues);

  const { metrics: metricsSection, health: healthSection } = app.sections;
  const { config: ops, issues: opsIssues } = parseOpsConfig(metricsSection?.value, healthSection?.value, {
    metrics: { file: metricsSection?.file },
    health: { file: healthSection?.file },
  });
  issues.push(...opsIssues);

  const messageHandlers: CompiledService['messageHandlers'] = [];
  const tables = new Map<string, { entry: UrlEntry; config: MessageHandlerConfig }>();
  const routable = new Set(app.urls);
  // Every checkable entry, in file order, including those left unroutable by a bad pattern: their kwargs
  // problems are reported too, but they are not served.
  for (const entry of loaded.checkable) {
    if (entry.handler === 'FileHandler') {
      issues.push(...validateFileHandler(entry));
    } else {
      const ctx = { modules, services, log: options.log ?? consoleLogger() };
      const adapter = adapterFor(entry.handler);
      let config: MessageHandlerConfig | undefined;
      let adapterOptions: unknown;
      if (adapter) {
        const r = adapter.compile(entry, ctx);
        issues.push(...r.issues);
        config = r.compiled?.config;
        adapterOptions = r.compiled?.options;
      } else if (entry.handler === 'MessageHandler') {
        const r = compileMessageHandler(entry, ctx);
        issues.push(...r.issues);
        config = r.config;
      }
      if (!config || !routable.has(entry)) continue;
      if (config.alert && config.db.filename === ':memory:') {
        issues.push({ path: `${entry.path}.kwargs.alert`, message: 'alerts are queued in the database: use a database file, not sqlite://', file: entry.file });
      }
      // Two url entries may share a table (they share history, not live broadcasts), so they share one Store,
      // and therefore must describe the table the same way.
      const key = `${config.db.key}#${config.table}`;
      const twin = tables.get(key);
      if (twin && !sameColumns(twin.config, config)) {
        issues.push({ path: `${entry.path}.kwargs.columns`, message: `table ${config.table} is also used by url.${twin.entry.name} with different columns`, file: entry.file });
      }
      tables.set(key, { entry, config });
      messageHandlers.push(adapter ? { entry, config, adapter, options: adapterOptions } : { entry, config });
    }
  }
  if (issues.length) throw new ConfigError(issues);
  return { app, messageHandlers, services, auth, trustProxy, bus, ops };
}

function sameColumns(a: MessageHandlerConfig, b: MessageHandlerConfig): boolean {
  return JSON.stringify([...a.columns.values()]) === JSON.stringify([...b.columns.values()]);
}

interface MountedHandler {
  handler: MessageHandler;
  endpoint: WsEndpoint;
  /** Set when the entry speaks another system's protocol: it serves the entry's requests and upgrades. */
  adapter?: MountedAdapter;
}

export class MessageService {
  readonly router: Router;
  readonly handlers = new Map<string, MessageHandler>();
  readonly listen: { port: number; host: string };
  private readonly mounted = new Map<string, MountedHandler>();
  private readonly files = new Map<string, HttpHandler>();
  private readonly stores: Store[] = [];
  /** The bus, and each table's feed in front of its hubs (by store key). */
  private readonly bus: Bus;
  private readonly feeds: { feed: TableFeed; unsubscribe: () => void; timer: NodeJS.Timeout | null }[] = [];
  /** Stops the bus's reconnect callback (a bus that can lose its connection: Redis). */
  private stopReconnect: (() => void) | null = null;
  private readonly workers: OutboxWorker[] = [];
  private readonly mailers: Mailer[] = [];
  private closed: Promise<void> | null = null;
  /** This service's metrics registry, made on the first `metrics()` call. */
  private serviceMetrics: ServiceMetrics | null = null;
  private readonly startedAt = Date.now();
  private readonly gate: GateOptions;

  private constructor(
    readonly compiled: CompiledService,
    private readonly options: ServiceOptions,
    private readonly log: Logger,
  ) {
    this.router = compileRoutes(compiled.app.urls);
    const auth = compiled.auth;
    this.gate = {
      authenticate: options.authenticate,
      authenticator: auth?.jwt ? createAuthenticator(auth) : null,
      sessions: auth?.session ? createSessions(auth.session) : null,
      trustProxy: compiled.trustProxy,
    };
    this.bus = options.bus ?? createBus(compiled.bus, log);
    this.listen = {
      port: compiled.app.listen.port ?? SERVER_DEFAULTS.port,
      host: compiled.app.listen.host ?? SERVER_DEFAULTS.host,
    };
  }

  /** Compiles the config, opens every database (creating or altering tables) and starts alert workers. */
  static async start(source: ConfigSource, options: ServiceOptions = {}): Promise<MessageService> {
    const compiled = await compileService(source, options);
    const service = new MessageService(compiled, options, options.log ?? consoleLogger());
    try {
      await service.init();
    } catch (err) {
      await service.close();
      throw err;
    }
    return service;
  }

  private async init(): Promise<void> {
    const { app, messageHandlers, services } = this.compiled;
    for (const entry of app.urls) if (entry.handler === 'FileHandler') this.files.set(entry.name, createFileHandler(entry, app));

    const stores = new Map<string, { store: Store; feed: TableFeed }>();
    const outboxDbs = new Map<string, Store>();
    for (const { entry, config, adapter, options } of messageHandlers) {
      const key = `${config.db.key}#${config.table}`;
      let table = stores.get(key);
      if (!table) {
        const store = createStore(config.db, config.table, config.columns, config.indexes, this.log);
        this.stores.push(store);
        try {
          await store.init();
        } catch (err) {
          throw new MhError('MH_ERR_STORE_FAILED', [`url.${entry.name}: ${(err as Error).message}`], { cause: err, path: `${entry.path}.kwargs.url` });
        }
        table = { store, feed: this.openFeed(key, store) };
        stores.set(key, table);
      }
      const { store, feed } = table;
      const handler = new MessageHandler(config, store, this.log);
      feed.attach(entry.name, handler.hub);
      const bus = this.bus;
      handler.publish = (events) => bus.publish({ table: key, events });
      handler.policy.verifier = this.gate.authenticator;
      const endpoint = new WsEndpoint(
        handler,
        { maxMessageBytes: config.maxMessageBytes, maxBufferedBytes: config.maxBufferedBytes, pingIntervalMs: this.options.pingIntervalMs ?? SERVER_DEFAULTS.ping_interval_ms },
        this.log,
      );
      this.handlers.set(entry.name, handler);
      const mounted: MountedHandler = { handler, endpoint };
      this.mounted.set(entry.name, mounted);
      if (adapter) mounted.adapter = await adapter.mount(this.adapterHost(entry, handler, endpoint), { config, options });
      if (config.alert && !outboxDbs.has(config.db.key)) outboxDbs.set(config.db.key, store);
    }

    // One alert worker per database that holds an outbox.
    if (outboxDbs.size) {
      const mailers = new Map<string, Mailer>();
      for (const [name, svc] of services) {
        const m = createMailer(svc);
        mailers.set(name, m);
        this.mailers.push(m);
      }
      for (const [dbKey, store] of outboxDbs) {
        await ensureOutboxTable(store.knex());
        const worker = new OutboxWorker(store.knex(), mailers, this.options.outbox ?? {}, (level, msg) => this.log(level, `alerts: ${msg}`));
        worker.start();
        this.workers.push(worker);
        for (const { handler } of this.mounted.values()) {
          if (handler.config.alert && handler.config.db.key === dbKey) handler.onCommit = () => worker.kick();
        }
      }
    }
    await this.connectBus();
  }

  /**
   * A bus that can lose its connection (Redis): every feed catches up from the store as soon as it is back,
   * since what other nodes published meanwhile never reaches this one. Start waits a little for the first
   * connection, so the nodes of a cluster hear each other from the first message, but never fails for it: a node
   * without Redis serves its own subscribers and keeps trying.
   */
  private async connectBus(): Promise<void> {
    const bus = this.bus;
    if (!isReconnectingBus(bus)) return;
    this.stopReconnect = bus.onReconnect(() => {
      for (const { feed } of this.feeds) void feed.sync().catch((err) => this.log('warn', `bus: catching up ${feed.table} after a reconnect failed`, err));
    });
    if (!(await bus.ready())) this.log('warn', 'bus: Redis is not reachable yet; serving this node\'s subscribers alone until it is (other nodes\' events come from the store meanwhile)');
  }

  /** What an adapter gets to serve its entry: the handler, the gate, and this handler's WebSocket endpoint. */
  private adapterHost(entry: UrlEntry, handler: MessageHandler, endpoint: WsEndpoint): AdapterHost {
    return {
      entry,
      handler,
      log: this.log,
      admit: (req, args) => admit(handler, req, args, this.gate),
      upgrade: (req, socket, head, { info, setCookie }, open) => {
        if (this.closed) {
          socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
          return;
        }
        const full = handler.policy.connections.acquire(info.ip);
        if (full) return refuseUpgrade(socket, full);
        endpoint.upgrade(req, socket, head, info, setCookie, releaser(handler.policy.connections, info.ip), open);
      },
    };
  }

  /** The feed that brings a table's committed events from the bus to its hubs, in order, without gaps. */
  private openFeed(key: string, store: Store): TableFeed {
    const reliable = this.bus.reliable;
    const feed = new TableFeed(key, store, this.log, { reliable }, store.lastSeq);
    const unsubscribe = this.bus.subscribe(key, (batch) => feed.receive(batch));
    let timer: NodeJS.Timeout | null = null;
    if (!reliable) {
      // A lost last batch leaves no later `_seq` to reveal it: ask the store now and then.
      // (A database outage is not logged here every second: the store logs it, once a minute.)
      const failed = (err: unknown): void => {
        if (!(err instanceof MhError && err.code === 'MH_ERR_STORE_UNAVAILABLE')) this.log('warn', `bus: catching up ${key} failed`, err);
      };
      timer = setInterval(() => void feed.sync().catch(failed), this.options.busSyncMs ?? 1000);
      timer.unref();
    }
    this.feeds.push({ feed, unsubscribe, timer });
    return feed;
  }

  /**
   * Publishes one message from server code through the handler's one intake, exactly like an HTTP body item:
   * `message_default`, `prepare`, the column checks, `modify`, the group commit, the bus, alerts. `_method` says
   * POST (the default), PUT or DELETE (which need `id`). Resolves with the committed frame, what subscribers
   * heard (`_seq` included); rejects with the catalogued MhError that refused it (nothing was stored). In the
   * handler's expressions `handler.current_user` is `options.user` (default null: the server, not a user), so
   * ownership rules apply to it like to anyone.
   */
  publish(name: string, msg: PublishMessage, options: PublishOptions = {}): Promise<Row> {
    const mounted = this.mounted.get(name);
    if (!mounted) return Promise.reject(new MhError('MH_ERR_NO_HANDLER', [name, [...this.mounted.keys()].join(', ') || 'none']));
    const { handler } = mounted;
    const scope = Object.freeze({
      name: handler.name,
      current_user: options.user ?? null,
      session: Object.freeze({ id: null }),
      args: emptyArgs(),
      request: Object.freeze({ ip: '', headers: Object.freeze({}) }),
    });
    return handler.submit(msg, scope);
  }

  /** True if `pathname` belongs to one of this service's url entries. */
  owns(pathname: string): boolean {
    return this.router.match(pathname) !== null;
  }

  /**
   * Handles an HTTP request if its path is ours and returns true; returns false (touching nothing) otherwise,
   * so an embedding app can pass it on.
   */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    const { pathname, args } = parseUrl(req.url);
    const match = this.router.match(pathname);
    if (!match) return false;
    const file = this.files.get(match.entry.name);
    if (file) {
      file(req, res, match.groups).catch((err) => {
        this.log('error', `url:${match.entry.name}: file handler failed`, err, { req: requestId(req) });
        if (!res.headersSent) sendError(res, new MhError('MH_ERR_INTERNAL'));
        else res.destroy();
      });
      return true;
    }
    const mounted = this.mounted.get(match.entry.name);
    if (!mounted) return false;
    if (mounted.adapter) {
      const served = mounted.adapter.request?.(req, res, { pathname, args, groups: match.groups });
      if (!served) return false;
      served.catch((err) => {
        this.log('error', `url:${match.entry.name}: HTTP request failed`, err, { req: requestId(req) });
        if (!res.headersSent) sendError(res, new MhError('MH_ERR_INTERNAL'));
        else res.destroy();
      });
      return true;
    }
    serveMessageHttp(mounted.handler, req, res, args, () => admit(mounted.handler, req, args, this.gate), {
      sseKeepAliveMs: this.options.sseKeepAliveMs ?? SERVER_DEFAULTS.sse_keepalive_ms,
    }).catch((err) => {
      this.log('error', `url:${match.entry.name}: HTTP request failed`, err, { req: requestId(req) });
      if (!res.headersSent) sendError(res, new MhError('MH_ERR_INTERNAL'));
    });
    return true;
  }

  /**
   * Handles a WebSocket upgrade if its path is a MessageHandler's and returns true; returns false (touching
   * nothing) otherwise.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const { pathname, args } = parseUrl(req.url);
    const match = this.router.match(pathname);
    const mounted = match ? this.mounted.get(match.entry.name) : undefined;
    if (!mounted) return false;
    if (mounted.adapter) {
      if (!mounted.adapter.upgrade) return false;
      try {
        mounted.adapter.upgrade(req, socket, head, { pathname, args, groups: match!.groups });
      } catch (err) {
        this.log('error', `url:${mounted.handler.name}: upgrade failed`, err);
        refuseUpgrade(socket, new MhError('MH_ERR_INTERNAL'));
      }
      return true;
    }
    if (this.closed) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return true;
    }
    const { handler, endpoint } = mounted;
    admit(handler, req, args, this.gate).then(
      ({ info, setCookie }) => {
        const full = handler.policy.connections.acquire(info.ip);
        if (full) {
          handler.stats.refuse(full.code);
          return refuseUpgrade(socket, full);
        }
        endpoint.upgrade(req, socket, head, info, setCookie, releaser(handler.policy.connections, info.ip));
      },
      (err) => {
        if (!(err instanceof MhError)) this.log('error', `url:${handler.name}: authenticate failed`, err);
        handler.stats.refuse(err instanceof MhError ? err.code : 'MH_ERR_INTERNAL');
        refuseUpgrade(socket, err);
      },
    );
    return true;
  }

  /**
   * This service's metrics in Prometheus's text format (docs/operations.md lists them). Each service has its own
   * prom-client Registry (`metricsRegistry()`), never the global one. The first call makes it; until then the
   * hot path only counts plain integers.
   */
  metrics(): Promise<string> {
    return this.metricsRegistry().metrics();
  }

  /** The Content-Type of `metrics()`'s text. */
  get metricsContentType(): string {
    return this.metricsRegistry().contentType;
  }

  /**
   * The prom-client Registry behind `metrics()` (to merge with an app's own: `Registry.merge`). `options` count on
   * the first call only.
   */
  metricsRegistry(options: MetricsOptions = { processMetrics: this.compiled.ops.metrics?.processMetrics ?? false }): import('prom-client').Registry {
    this.serviceMetrics ??= new ServiceMetrics(this.opsView(), options);
    return this.serviceMetrics.registry;
  }

  /** Readiness (`/readyz`): started, not closing, every database answers, the bus is connected. */
  readiness(): Promise<Readiness> {
    return readiness(this.opsView());
  }

  /** Handlers, connections, the last `_seq` per table, outbox counts and bus state (`msghub status`). */
  status(): Promise<ServiceStatus> {
    return status(this.opsView());
  }

  /** What ops/ reads: the live handlers, their WebSocket counts and feeds, the bus. */
  private opsView(): OpsView {
    return {
      handlers: [...this.mounted.values()].map(({ handler, endpoint }) => ({
        name: handler.name,
        handler,
        websockets: () => endpoint.size,
        feed: this.feeds.find((f) => f.feed.table === `${handler.config.db.key}#${handler.config.table}`)?.feed ?? null,
      })),
      bus: this.bus,
      closing: () => this.closed !== null,
      startedAt: this.startedAt,
    };
  }

  /**
   * Graceful stop: every handler finishes the messages it accepted and closes its sockets with 1001; alert
   * workers finish in-flight sends; databases close. Never touches the HTTP server (the mount owns that).
   */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.serviceMetrics?.detach();
      await Promise.all([...this.mounted.values()].map(({ adapter }) => adapter?.close()));
      await Promise.all([...this.mounted.values()].map(({ handler }) => handler.close(SERVER_DEFAULTS.shutdown_timeout_ms)));
      for (const { endpoint } of this.mounted.values()) endpoint.close();
      this.stopReconnect?.();
      for (const { feed, unsubscribe, timer } of this.feeds) {
        if (timer) clearInterval(timer);
        unsubscribe();
        feed.close();
      }
      if (!this.options.bus) await this.bus.close();
      await Promise.all(this.workers.map((w) => w.stop()));
      await Promise.all(this.mailers.map((m) => m.close()));
      await Promise.all(this.stores.map((s) => s.close()));
    })();
    return this.closed;
  }
}

/**
 * The callback that frees a connection's place. Built here, not inline, so the closure holds only the counter
 * and the address, not the upgrade request (1–2 KB per idle connection, measured).
 */
function releaser(counter: ConnectionCounter, ip: string): () => void {
  return () => counter.release(ip);
}

/** Splits a request URL into its pathname and Gramex-style args (every value a list; a null-prototype map). */
export function parseUrl(url: string | undefined): { pathname: string; args: Args } {
  const u = url ?? '/';
  const qi = u.indexOf('?');
  const pathname = qi < 0 ? u : u.slice(0, qi);
  const args = emptyArgs();
  if (qi >= 0) {
    for (const [k, v] of new URLSearchParams(u.slice(qi + 1))) (args[k] ??= []).push(v);
  }
  return { pathname, args };
}
