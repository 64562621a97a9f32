/**
 * @module ops/http
 * HTTP endpoints for operators: liveness and readiness (on the public port, paths from `health:`), metrics and
 * the JSON status (on a listener of their own, or on the public port behind a bearer token: `metrics:`).
 * `createOpsHandler` returns a request listener that answers its paths and returns false for every other, like
 * `MessageService.handleRequest`, so it can sit in front of it in any server.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MhError } from '../errors.js';
import { sendError, sendJson, sendText } from '../http/respond.js';
import type { MessageService } from '../service.js';
import type { HealthConfig, MetricsConfig } from './config.js';

export interface OpsRoutes {
  health: HealthConfig;
  /** Metrics and status here (null: not on this listener). */
  metrics: Pick<MetricsConfig, 'path' | 'statusPath' | 'token'> | null;
}

/** A request listener for the operator endpoints: true when it answered, false (untouched) when not its path. */
export function createOpsHandler(service: MessageService, routes: OpsRoutes): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { health, metrics } = routes;
  const expected = metrics?.token ? Buffer.from(`Bearer ${metrics.token}`) : null;
  const authorized = (req: IncomingMessage): boolean => {
    if (!expected) return true;
    const got = Buffer.from(req.headers.authorization ?? '');
    return got.length === expected.length && timingSafeEqual(got, expected);
  };
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const which =
      path === health.healthz ? 'healthz' : path === health.readyz ? 'readyz' : metrics && path === metrics.path ? 'metrics' : metrics && path === metrics.statusPath ? 'status' : null;
    if (!which) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, new MhError('MH_ERR_HTTP_METHOD', [req.method ?? '']), { Allow: 'GET, HEAD' });
      return true;
    }
    const noStore = { 'Cache-Control': 'no-store' };
    if (which === 'healthz') {
      sendJson(res, 200, { status: 'ok' }, noStore);
      return true;
    }
    if (which === 'readyz') {
      service.readiness().then(
        (r) => sendJson(res, r.ready ? 200 : 503, r, noStore),
        () => sendJson(res, 503, { ready: false, checks: [] }, noStore),
      );
      return true;
    }
    if (!authorized(req)) {
      sendError(res, new MhError('MH_ERR_AUTH_REQUIRED'), { 'WWW-Authenticate': 'Bearer realm="msghub metrics"' });
      return true;
    }
    if (which === 'status') {
      service.status().then(
        (s) => sendJson(res, 200, s, noStore),
        () => sendError(res, new MhError('MH_ERR_INTERNAL')),
      );
      return true;
    }
    service.metrics().then(
      (text) => sendText(res, 200, text, { ...noStore, 'Content-Type': service.metricsContentType }),
      () => sendError(res, new MhError('MH_ERR_INTERNAL')),
    );
    return true;
  };
}
