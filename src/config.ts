/** Process configuration: read from the environment once, at the edge, into a typed object. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseDuration } from './shared/duration';

export const DEFAULT_BASE_URL = 'https://api.replicate.com/v1';

export interface TemporalConfig {
  address: string;
  namespace: string;
  taskQueue: string;
}

export interface WorkerConfig extends TemporalConfig {
  replicateToken: string;
  replicateBaseUrl: string;
  /** server-side cap on activities per second for the whole task queue (all workers together) */
  maxTaskQueueActivitiesPerSecond: number;
  /** how long in-flight activities may finish after SIGINT/SIGTERM, ms */
  shutdownGraceTimeMs: number;
  /** where pipelines persist their outputs (OUTPUT_DIR, default ./outputs) */
  outputDir: string;
  /** OUTPUT_ALLOWED_ORIGINS: origins output files may also be fetched from (besides Replicate's and the API's) */
  outputAllowedOrigins?: string[];
  /** webhooks: the receiver's public base URL, the port to serve it on in this process, the signing secret */
  webhook: WebhookConfig | null;
  /** WORKFLOW_BUNDLE: a prebuilt workflow bundle (`npm run build:workflows`); unset = bundle from source at start */
  workflowBundlePath?: string;
  /** MAX_CACHED_WORKFLOWS: sticky-cache size; unset = the SDK's default (derived from the heap limit) */
  maxCachedWorkflows?: number;
  /** RECONCILE_EVERY: how often the worker's `replicate-reconciler` Schedule runs, ms; null = off; unset = 5 min */
  reconcileEveryMs?: number | null;
  /** per-request HTTP timeouts, ms (tests shorten them; unset = DEFAULT_HTTP_TIMEOUTS) */
  httpTimeouts?: { createMs?: number; getMs?: number; cancelMs?: number };
}

export interface WebhookConfig {
  /** public base URL Replicate posts to (WEBHOOK_BASE_URL), e.g. https://hooks.example.com */
  baseUrl: string | null;
  /** serve the receiver in this process on this port (WEBHOOK_PORT) */
  port: number | null;
  /** REPLICATE_WEBHOOK_SECRET (`whsec_...`); else fetched from GET /v1/webhooks/default/secret */
  secret: string | null;
}

/** Webhook settings, or null when neither WEBHOOK_BASE_URL nor WEBHOOK_PORT is set. */
export function readWebhookConfig(env: Env = process.env): WebhookConfig | null {
  const baseUrl = env.WEBHOOK_BASE_URL?.trim() || null;
  const portText = env.WEBHOOK_PORT?.trim() || null;
  if (!baseUrl && !portText) return null;
  if (baseUrl) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new ConfigError(
        `WEBHOOK_BASE_URL="${baseUrl}" is not a URL; use the public https:// address of the receiver`,
      );
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new ConfigError(
        `WEBHOOK_BASE_URL="${baseUrl}" must start with https:// (Replicate does not follow redirects)`,
      );
    }
  }
  const port = portText === null ? null : Number(portText);
  if (port !== null && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    throw new ConfigError(`WEBHOOK_PORT="${portText}" must be a port number (0-65535)`);
  }
  const secret = env.REPLICATE_WEBHOOK_SECRET?.trim() || null;
  if (secret !== null && !secret.startsWith('whsec_')) {
    throw new ConfigError(
      'REPLICATE_WEBHOOK_SECRET must start with whsec_ (see GET /v1/webhooks/default/secret)',
    );
  }
  return { baseUrl, port, secret };
}

/** A configuration problem, explained in one line. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

export function readTemporalConfig(env: Env = process.env): TemporalConfig {
  const address = env.TEMPORAL_ADDRESS?.trim() || 'localhost:7233';
  if (!/^[^\s:/]+:\d{1,5}$/.test(address)) {
    throw new ConfigError(`TEMPORAL_ADDRESS="${address}" must be host:port, e.g. localhost:7233`);
  }
  return {
    address,
    namespace: env.TEMPORAL_NAMESPACE?.trim() || 'default',
    taskQueue: env.TEMPORAL_TASK_QUEUE?.trim() || 'replicate',
  };
}

export function readWorkerConfig(env: Env = process.env): WorkerConfig {
  const temporal = readTemporalConfig(env);
  const replicateToken = env.REPLICATE_API_TOKEN?.trim() ?? '';
  if (!replicateToken) {
    throw new ConfigError(
      'REPLICATE_API_TOKEN is not set: export your token (https://replicate.com/account/api-tokens), or run `npm run demo` to use the local simulator',
    );
  }
  const replicateBaseUrl = (env.REPLICATE_BASE_URL?.trim() || DEFAULT_BASE_URL).replace(/\/+$/, '');
  let url: URL;
  try {
    url = new URL(replicateBaseUrl);
  } catch {
    throw new ConfigError(
      `REPLICATE_BASE_URL="${replicateBaseUrl}" is not a URL; use e.g. ${DEFAULT_BASE_URL}`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(
      `REPLICATE_BASE_URL="${replicateBaseUrl}" must start with https:// (or http:// for a local simulator)`,
    );
  }
  return {
    ...temporal,
    replicateToken,
    replicateBaseUrl,
    maxTaskQueueActivitiesPerSecond: positiveNumber(env, 'MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND', 10),
    shutdownGraceTimeMs: positiveNumber(env, 'SHUTDOWN_GRACE_SECONDS', 20) * 1000,
    outputDir: env.OUTPUT_DIR?.trim() || 'outputs',
    ...readOutputAllowedOrigins(env),
    webhook: readWebhookConfig(env),
    ...readBundlePath(env),
    ...readCacheSize(env),
    reconcileEveryMs: readReconcileEvery(env),
  };
}

/** Default interval of the orphan reconciler's Schedule, which every worker ensures at start. */
export const DEFAULT_RECONCILE_EVERY_MS = 5 * 60_000;

/** RECONCILE_EVERY: a duration of at least 1m (default 5m), or `off`. */
export function readReconcileEvery(env: Env = process.env): number | null {
  const raw = env.RECONCILE_EVERY?.trim();
  if (!raw) return DEFAULT_RECONCILE_EVERY_MS;
  if (/^(off|0|false|no|none)$/i.test(raw)) return null;
  const d = parseDuration(raw);
  if ('error' in d || d.ms < 60_000) {
    throw new ConfigError(
      `RECONCILE_EVERY="${raw}" must be a duration of at least 1m (e.g. 5m, 1h) or off (default 5m)`,
    );
  }
  return d.ms;
}

function readOutputAllowedOrigins(env: Env): { outputAllowedOrigins?: string[] } {
  const raw = env.OUTPUT_ALLOWED_ORIGINS?.trim();
  if (!raw) return {};
  const origins = raw
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '')
    .map((o) => {
      let url: URL | undefined;
      try {
        url = new URL(o);
      } catch {
        url = undefined;
      }
      if (
        !url ||
        (url.protocol !== 'https:' && url.protocol !== 'http:') ||
        url.href !== `${url.origin}/` ||
        url.hostname.includes('*')
      ) {
        throw new ConfigError(
          `OUTPUT_ALLOWED_ORIGINS: "${o}" is not an origin; list scheme://host[:port] values (no paths, no wildcards) separated by commas, e.g. https://cdn.example.com`,
        );
      }
      return url.origin;
    });
  return { outputAllowedOrigins: origins };
}

function readCacheSize(env: Env): { maxCachedWorkflows?: number } {
  const raw = env.MAX_CACHED_WORKFLOWS?.trim();
  if (!raw) return {};
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new ConfigError(
      `MAX_CACHED_WORKFLOWS="${raw}" must be a whole number ≥ 0 (0 disables the cache; unset = the SDK's default)`,
    );
  }
  return { maxCachedWorkflows: value };
}

function readBundlePath(env: Env): { workflowBundlePath?: string } {
  const raw = env.WORKFLOW_BUNDLE?.trim();
  if (!raw) return {};
  if (!existsSync(raw)) {
    throw new ConfigError(
      `WORKFLOW_BUNDLE="${raw}" does not exist: run \`npm run build:workflows\` (writes lib/workflow-bundle.js) or unset it`,
    );
  }
  return { workflowBundlePath: path.resolve(raw) };
}

function positiveNumber(env: Env, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new ConfigError(`${name}="${raw}" must be a positive number (default ${fallback})`);
  }
  return value;
}
