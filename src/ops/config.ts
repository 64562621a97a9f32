/**
 * @module ops/config
 * The app-level `metrics:` and `health:` sections (docs/operations.md).
 *
 *   metrics:                  # absent: no /metrics endpoint (service.metrics() still works for embedders)
 *     port: 9464              # a listener of its own, on `host` (127.0.0.1 by default): off the public port
 *     host: 127.0.0.1
 *     path: /metrics          # default
 *     status_path: /status    # the JSON status (`msghub status` reads it); same access as metrics
 *     token: $METRICS_TOKEN   # a bearer token; required when there is no `port` (then served on the public port)
 *     process: true           # Node's process metrics too (default true)
 *   health:
 *     healthz: /healthz       # liveness, on the public port (false: off)
 *     readyz: /readyz         # readiness, on the public port (false: off)
 *
 * Metrics are never on the public port without a token: a `metrics:` section with neither `port` nor `token`
 * is a config error. Health paths reveal nothing (no hosts, no counts) and sit on the public port so a load
 * balancer can reach them; they are served on the metrics listener too.
 */
import type { ConfigIssue } from '../errors.js';

export interface MetricsConfig {
  /** A listener of its own (null: on the public port, behind `token`). */
  port: number | null;
  host: string;
  path: string;
  statusPath: string;
  token: string | null;
  processMetrics: boolean;
}

export interface HealthConfig {
  healthz: string | null;
  readyz: string | null;
}

export interface OpsConfig {
  metrics: MetricsConfig | null;
  health: HealthConfig;
}

export const OPS_DEFAULTS = {
  metricsHost: '127.0.0.1',
  metricsPath: '/metrics',
  statusPath: '/status',
  healthz: '/healthz',
  readyz: '/readyz',
} as const;

const METRICS_KEYS = ['port', 'host', 'path', 'status_path', 'token', 'process'];
const HEALTH_KEYS = ['healthz', 'readyz'];
/** A path of ours: absolute, printable, no query string, bounded. */
const PATH = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,200}$/;

interface Where {
  file?: string;
}

export function parseOpsConfig(metricsValue: unknown, healthValue: unknown, where: { metrics?: Where; health?: Where } = {}): { config: OpsConfig; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const issue = (path: string, message: string, w?: Where): void => void issues.push({ path, message, ...(w?.file ? { file: w.file } : {}) });
  const health: HealthConfig = { healthz: OPS_DEFAULTS.healthz, readyz: OPS_DEFAULTS.readyz };
  if (healthValue !== undefined && healthValue !== null) {
    const w = where.health;
    if (typeof healthValue !== 'object' || Array.isArray(healthValue)) issue('health', 'health must be a mapping (healthz, readyz)', w);
    else {
      const h = healthValue as Record<string, unknown>;
      for (const key of Object.keys(h)) if (!HEALTH_KEYS.includes(key)) issue(`health.${key}`, `unknown key; allowed: ${HEALTH_KEYS.join(', ')}`, w);
      for (const key of HEALTH_KEYS as ('healthz' | 'readyz')[]) {
        const v = h[key];
        if (v === undefined) continue;
        if (v === false || v === null) health[key] = null;
        else if (typeof v === 'string' && PATH.test(v)) health[key] = v;
        else issue(`health.${key}`, 'must be a path such as /healthz, or false to turn it off', w);
      }
      if (health.healthz !== null && health.healthz === health.readyz) issue('health.readyz', 'healthz and readyz must be different paths', w);
    }
  }

  let metrics: MetricsConfig | null = null;
  if (metricsValue !== undefined && metricsValue !== null) {
    const w = where.metrics;
    if (typeof metricsValue !== 'object' || Array.isArray(metricsValue)) issue('metrics', 'metrics must be a mapping (port, host, path, status_path, token, process)', w);
    else {
      const m = metricsValue as Record<string, unknown>;
      for (const key of Object.keys(m)) if (!METRICS_KEYS.includes(key)) issue(`metrics.${key}`, `unknown key; allowed: ${METRICS_KEYS.join(', ')}`, w);
      const c: MetricsConfig = {
        port: null,
        host: OPS_DEFAULTS.metricsHost,
        path: OPS_DEFAULTS.metricsPath,
        statusPath: OPS_DEFAULTS.statusPath,
        token: null,
        processMetrics: true,
      };
      if (m.port !== undefined) {
        const n = typeof m.port === 'string' && /^\d{1,5}$/.test(m.port) ? Number(m.port) : m.port;
        if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65535) c.port = n;
        else issue('metrics.port', 'port must be an integer from 0 to 65535', w);
      }
      if (m.host !== undefined) {
        if (typeof m.host === 'string' && m.host !== '' && m.host.length <= 255) c.host = m.host;
        else issue('metrics.host', 'host must be a non-empty string', w);
      }
      for (const [key, field] of [
        ['path', 'path'],
        ['status_path', 'statusPath'],
      ] as const) {
        const v = m[key];
        if (v === undefined) continue;
        if (typeof v === 'string' && PATH.test(v)) c[field] = v;
        else issue(`metrics.${key}`, 'must be a path such as /metrics', w);
      }
      if (c.path === c.statusPath) issue('metrics.status_path', 'path and status_path must be different', w);
      if (m.token !== undefined) {
        // At least 16 characters: a short token on a public port can be guessed.
        if (typeof m.token === 'string' && m.token.length >= 16 && m.token.length <= 4096 && /^[\x21-\x7e]+$/.test(m.token)) c.token = m.token;
        else issue('metrics.token', 'token must be 16 to 4096 printable ASCII characters without spaces', w);
      }
      if (m.process !== undefined) {
        if (typeof m.process === 'boolean') c.processMetrics = m.process;
        else issue('metrics.process', 'process must be true or false', w);
      }
      if (c.port === null && m.token === undefined) {
        issue('metrics', 'metrics need a port of their own (port: 9464, on 127.0.0.1 by default) or a token (then they are served on the public port, behind it)', w);
      }
      metrics = c;
    }
  }
  return { config: { metrics, health }, issues };
}
