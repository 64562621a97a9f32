/**
 * @module msghub
 * Public API. Build a service from a gramex.yaml (or an object) and mount it:
 *
 *   import { MessageService, mountHttp } from 'msghub';
 *   const service = await MessageService.start('gramex.yaml', { authenticate: (req) => userFrom(req) });
 *   const mount = mountHttp(server, service);           // WebSocket upgrades on our paths
 *   // in your request listener: if (service.handleRequest(req, res)) return;
 *
 * Express and Fastify adapters live at 'msghub/express' and 'msghub/fastify'.
 */
export {
  MessageService,
  compileService,
  type ServiceOptions,
  type ConfigSource,
  type CompiledService,
  type PublishMessage,
  type PublishOptions,
} from './service.js';
export type { Logger, LogLevel } from './log.js';
export type { OutboxOptions } from './alert/index.js';
export { mountHttp, createServer } from './mount/http.js';
export { createOpsHandler, type OpsRoutes } from './ops/http.js';
export type { Readiness, ReadyCheck, ServiceStatus, HandlerStatus } from './ops/health.js';
export type { LogFields } from './log.js';
export { consoleLogger, pinoLogger } from './log.js';
export { MhError, ConfigError, CloseCode, catalog, type MhErrorCode, type ConfigIssue } from './errors.js';
export type { Method, Row, Args, User, Disposable, ColumnDef, ColumnKind } from './types.js';
export type { Bus, BusBatch, BusEvent } from './bus/bus.js';
export { LocalBus } from './bus/local.js';
export { RedisBus, type RedisBusOptions, type RedisConnection } from './bus/redis.js';
export type { ConnectionInfo, SubscribeOptions } from './core/handler.js';
export type { Session } from './core/session.js';
export type { Codec, Intent, Ack } from './protocol/codec.js';
export { msghubCodec } from './protocol/msghub.js';
export type { Sink } from './transport/sink.js';
export { parseFilter, parseFilterGroups, anyOf, filterGroups, type Filter, type Condition } from './filter/index.js';
