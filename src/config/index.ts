/** Process configuration: read from the environment once, at the edge, into a typed object. */
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { loadClientConfigProfile, toClientOptions, type ClientConfigProfile } from '@temporalio/envconfig';
import { DEFAULT_CLAIM_RETENTION_MS, MIN_CLAIM_RETENTION_MS } from '../activities/claim-retention';
import { OutputUrlError, parseOutputUrl } from '../activities/output-files/output-url';
import { parseDuration } from '../shared/duration';
import { parseModelConcurrency } from '../shared/slots';
import { webhookBaseUrlProblem } from '../shared/webhook-url';
import type { EncryptionKeys } from '../encryption/keys';
import { bundleModeProblem } from '../encryption/bundle';
import { readEncryptionKeys } from './encryption';
import { ConfigError, readBoolean, readDecimal, readOrigins, readPort, type Env } from './env-values';
import {
  DEFAULT_CREATE_RPM,
  DEFAULT_READ_RPM,
  serverRatePerSecond,
  type ReplicateRateLimits,
} from '../worker/flow-control';
import { DEFAULT_LOCAL_READ_SHARE } from '../worker/read-share';

export const DEFAULT_BASE_URL = 'https://api.replicate.com/v1';

/** Where the worker's own endpoints (HEALTH_PORT, METRICS_PORT) listen unless told otherwise: this machine only. */
const LOOPBACK = '127.0.0.1';

export interface TemporalConfig {
  address: string;
  namespace: string;
  taskQueue: string;
  /** TLS (TEMPORAL_TLS_*, the profile's [tls], or on by default with an API key); absent = plaintext */
  tls?: TemporalTls;
  /** TEMPORAL_API_KEY or the profile's api_key (Temporal Cloud); never logged */
  apiKey?: string;
  /** gRPC headers: the profile's grpc_meta, TEMPORAL_GRPC_META_* */
  grpcMeta?: Record<string, string>;
  /** ENCRYPTION_KEY (+ ENCRYPTION_KEYS_OLD): payloads encrypted at rest (docs/encryption.md); never logged */
  encryption?: EncryptionKeys;
}

/** TLS as the SDK's connections take it (`{}` = TLS with the system's CAs). */
export interface TemporalTls {
  serverNameOverride?: string;
  serverRootCACertificate?: Uint8Array;
  clientCertPair?: { crt: Uint8Array; key: Uint8Array };
}

export interface WorkerConfig extends TemporalConfig {
  replicateToken: string;
  replicateBaseUrl: string;
  /** server-side cap on activities per second for the whole task queue (all workers together); unset = none */
  maxTaskQueueActivitiesPerSecond?: number;
  /**
   * REPLICATE_CREATE_RPM, REPLICATE_READ_RPM: fleet-wide budgets of calls to Replicate (src/worker/flow-control.ts). With
   * a reads budget the worker also serves `<taskQueue>-replicate-reads`; unset (tests' literal configs) = neither.
   */
  replicateRateLimits?: ReplicateRateLimits;
  /** how long in-flight activities may finish after SIGINT/SIGTERM, ms */
  shutdownGraceTimeMs: number;
  /** HEALTH_PORT (and HEALTH_HOST, default 127.0.0.1): serve GET /healthz and /readyz there; unset = off */
  health?: { port: number; host: string };
  /** METRICS_PORT (and METRICS_HOST, default 127.0.0.1): Prometheus /metrics there; unset = off */
  metrics?: { port: number; host: string };
  /** where pipelines persist their outputs (OUTPUT_DIR, default ./outputs) */
  outputDir: string;
  /** OUTPUT_URL: `s3://bucket[/prefix]`, outputs go there (S3 API, standard AWS environment) instead of outputDir */
  outputUrl?: string;
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
  /** REPLICATE_MODEL_CONCURRENCY: model key -> at most this many at Replicate at once, fleet-wide; unset = none */
  modelConcurrency?: Record<string, number>;
  /** METRICS_MODELS: models whose runs keep their name in the `model` label even before one succeeded here */
  metricsModels?: string[];
  /** CLAIM_RETENTION: claims older than this are deleted (ms; default 240h, at least 168h); null = kept forever */
  claimRetentionMs?: number | null;
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
    // HTTPS, as Replicate requires; plain HTTP only on loopback (a local simulator): src/shared/webhook-url.ts
    const problem = webhookBaseUrlProblem(baseUrl, 'WEBHOOK_BASE_URL');
    if (problem !== null) throw new ConfigError(problem);
  }
  const port = readPort(env, 'WEBHOOK_PORT', 0, 'for the webhook receiver, or unset') ?? null;
  const secret = env.REPLICATE_WEBHOOK_SECRET?.trim() || null;
  if (secret !== null && !secret.startsWith('whsec_')) {
    throw new ConfigError(
      'REPLICATE_WEBHOOK_SECRET must start with whsec_ (see GET /v1/webhooks/default/secret)',
    );
  }
  return { baseUrl, port, secret };
}

export { ConfigError, readBoolean } from './env-values';
export { readEncryptionKeys } from './encryption';

/**
 * Temporal's environment configuration, read by the SDK's own package (`@temporalio/envconfig`): the profile
 * TEMPORAL_PROFILE (default `default`) of the TOML file TEMPORAL_CONFIG_FILE (default
 * `$XDG_CONFIG_HOME/temporalio/temporal.toml`, else `~/.config/temporalio/temporal.toml`; a missing default file is
 * fine), overridden by TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS,
 * TEMPORAL_TLS_{CLIENT_CERT,CLIENT_KEY,SERVER_CA_CERT}_{PATH,DATA}, TEMPORAL_TLS_SERVER_NAME and
 * TEMPORAL_GRPC_META_*. Blank variables count as unset. TEMPORAL_TASK_QUEUE is ours.
 */
export function readTemporalConfig(env: Env = process.env): TemporalConfig {
  const vars: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (key.startsWith('TEMPORAL_') && value.trim() === '') continue;
    vars[key] = key.startsWith('TEMPORAL_') ? value.trim() : value;
  }
  const file = vars.TEMPORAL_CONFIG_FILE;
  if (file !== undefined && !existsSync(file)) {
    throw new ConfigError(
      `TEMPORAL_CONFIG_FILE="${file}" does not exist: point it at a Temporal TOML config file or unset it`,
    );
  }
  const where = file ? `"${file}"` : 'the Temporal config file';
  // The SDK's own reading takes only '1' and 'true' as true; ours takes every usual spelling and refuses the rest.
  const tls = readBoolean(vars, 'TEMPORAL_TLS');
  if (tls !== undefined) vars.TEMPORAL_TLS = String(tls);
  const noHostVerification = readBoolean(vars, 'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION');
  // false is the default: passed on, the SDK would take the variable's mere presence as a TLS setting
  if (noHostVerification === false) delete vars.TEMPORAL_TLS_DISABLE_HOST_VERIFICATION;
  if (noHostVerification === true) {
    throw new ConfigError(
      "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION is not supported by Temporal's TypeScript SDK: set TEMPORAL_TLS_SERVER_NAME to a name in the server's certificate (and TEMPORAL_TLS_SERVER_CA_CERT_PATH to its CA) instead, or unset it",
    );
  }
  let profile: ClientConfigProfile;
  try {
    profile = loadClientConfigProfile({ overrideEnvVars: vars });
  } catch (error) {
    const message = (error as Error).message.split('\n')[0]!;
    const both = /Cannot specify both (\w+)_path and \w+_data/.exec(message);
    if (both) {
      const name = `TEMPORAL_TLS_${both[1]!.toUpperCase()}`;
      throw new ConfigError(
        `${name}_PATH and ${name}_DATA (or ${both[1]}_path and ${both[1]}_data in ${where}) are both set: keep one`,
      );
    }
    if (/^Profile '.*' not found/.test(message)) {
      throw new ConfigError(
        `TEMPORAL_PROFILE="${vars.TEMPORAL_PROFILE}" is not a profile in ${where}: add a [profile.${vars.TEMPORAL_PROFILE}] section or unset TEMPORAL_PROFILE`,
      );
    }
    throw new ConfigError(
      `${where} cannot be read (${message}): fix it, or point TEMPORAL_CONFIG_FILE at another file`,
    );
  }
  const origin = (variable: string, key: string): string =>
    vars[variable] !== undefined ? variable : `${key} in ${where}`;
  for (const [source, variable, key] of [
    [profile.tls?.serverCACert, 'TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'tls.server_ca_cert_path'],
    [profile.tls?.clientCert, 'TEMPORAL_TLS_CLIENT_CERT_PATH', 'tls.client_cert_path'],
    [profile.tls?.clientKey, 'TEMPORAL_TLS_CLIENT_KEY_PATH', 'tls.client_key_path'],
  ] as const) {
    if (source && 'path' in source && !existsSync(source.path)) {
      throw new ConfigError(
        `${origin(variable, key)}="${source.path}" does not exist: point it at a PEM file or unset it`,
      );
    }
  }
  if (Boolean(profile.tls?.clientCert) !== Boolean(profile.tls?.clientKey)) {
    throw new ConfigError(
      'mTLS needs both a client certificate and its key: set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH (or neither)',
    );
  }
  const { connectionOptions, namespace } = toClientOptions(profile);
  const address = connectionOptions.address?.trim() || 'localhost:7233';
  if (!/^[^\s:/]+:\d{1,5}$/.test(address)) {
    throw new ConfigError(
      `${origin('TEMPORAL_ADDRESS', 'address')}="${address}" must be host:port, e.g. localhost:7233`,
    );
  }
  const config: TemporalConfig = {
    address,
    namespace: namespace?.trim() || 'default',
    taskQueue: env.TEMPORAL_TASK_QUEUE?.trim() || 'replicate',
  };
  const options = connectionOptions.tls;
  if (options === true) config.tls = {};
  else if (options) {
    config.tls = {};
    if (options.serverNameOverride) config.tls.serverNameOverride = options.serverNameOverride;
    if (options.serverRootCACertificate) config.tls.serverRootCACertificate = options.serverRootCACertificate;
    if (options.clientCertPair) config.tls.clientCertPair = options.clientCertPair;
  }
  if (connectionOptions.apiKey) config.apiKey = connectionOptions.apiKey;
  if (profile.grpcMeta && Object.keys(profile.grpcMeta).length > 0) config.grpcMeta = profile.grpcMeta;
  const encryption = readEncryptionKeys(env);
  if (encryption) config.encryption = encryption;
  return config;
}

/** What `Connection.connect` and `NativeConnection.connect` take for `config` (address, TLS, API key, headers). */
export function temporalConnectionOptions(config: TemporalConfig): {
  address: string;
  tls?: TemporalTls;
  apiKey?: string;
  metadata?: Record<string, string>;
} {
  return {
    address: config.address,
    ...(config.tls ? { tls: config.tls } : {}),
    ...(config.apiKey ? { apiKey: config.apiKey } : {}),
    ...(config.grpcMeta ? { metadata: config.grpcMeta } : {}),
  };
}

/** How the connection is secured, for log lines: '' (plaintext), ' over TLS', ' over TLS with an API key'. */
export function temporalSecurity(config: TemporalConfig): string {
  if (!config.tls) return config.apiKey ? ' with an API key (no TLS)' : '';
  return config.apiKey ? ' over TLS with an API key' : ' over TLS';
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
  const replicateRateLimits = readReplicateRateLimits(env);
  return {
    ...temporal,
    replicateToken,
    replicateBaseUrl,
    ...mainQueueRate(env, replicateRateLimits),
    replicateRateLimits,
    shutdownGraceTimeMs:
      readDecimal(env, 'SHUTDOWN_GRACE_SECONDS', {
        min: 0.1,
        max: 3600,
        fallback: 20,
        meaning: 'seconds in-flight activities may finish after SIGTERM',
      }) * 1000,
    ...readHealth(env),
    ...readMetrics(env),
    outputDir: env.OUTPUT_DIR?.trim() || 'outputs',
    ...readOutputAllowedOrigins(env),
    ...readOutputUrl(env),
    webhook: readWebhookConfig(env),
    ...readBundlePath(env, temporal.encryption !== undefined),
    ...readCacheSize(env),
    reconcileEveryMs: readReconcileEvery(env),
    ...readModelConcurrency(env),
    ...readMetricsModels(env),
    claimRetentionMs: readClaimRetention(env),
  };
}

/** CLAIM_RETENTION: a duration of at least the longest run (168h; default 240h), or `off`. */
export function readClaimRetention(env: Env = process.env): number | null {
  const raw = env.CLAIM_RETENTION?.trim();
  if (!raw) return DEFAULT_CLAIM_RETENTION_MS;
  if (/^off$/i.test(raw)) return null;
  const d = parseDuration(raw);
  if ('error' in d || d.ms < MIN_CLAIM_RETENTION_MS || d.ms > 100 * 365 * 24 * 3_600_000) {
    throw new ConfigError(
      `CLAIM_RETENTION="${raw}" must be a duration of at least 168h (the longest run), e.g. 240h (the default), or off to keep claims forever`,
    );
  }
  return d.ms;
}

/** METRICS_MODELS="owner/name,owner/other": comma-separated model strings (src/observability/model-labels.ts). */
export function readMetricsModels(env: Env = process.env): { metricsModels?: string[] } {
  const raw = env.METRICS_MODELS?.trim();
  if (!raw) return {};
  const models = raw
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  const bad = models.find((m) => m.length > 200 || /[\s"\\]/.test(m));
  if (bad !== undefined)
    throw new ConfigError(
      `METRICS_MODELS: "${bad.slice(0, 60)}" is not a model; list owner/name (or owner/name:version, deployments/owner/name) values separated by commas`,
    );
  return { metricsModels: models };
}

/** Far above any Replicate account's limits: a larger value is a typo. */
const MAX_RPM = 1_000_000;

/**
 * REPLICATE_CREATE_RPM (default 600) and REPLICATE_READ_RPM (default 3000): calls a minute, or `off`;
 * REPLICATE_READ_LOCAL_SHARE (default 0.9): the part of the reads budget spent on local polls.
 */
export function readReplicateRateLimits(env: Env = process.env): ReplicateRateLimits {
  const read = (name: string, fallback: number): number | null => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    if (/^off$/i.test(raw)) return null;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < 1 || value > MAX_RPM) {
      throw new ConfigError(
        `${name}="${raw}" must be a whole number from 1 to ${MAX_RPM.toLocaleString('en-US')} (calls a minute for the whole fleet, default ${fallback}), in plain digits, or off`,
      );
    }
    return value;
  };
  return {
    createsPerMinute: read('REPLICATE_CREATE_RPM', DEFAULT_CREATE_RPM),
    readsPerMinute: read('REPLICATE_READ_RPM', DEFAULT_READ_RPM),
    localReadShare: readDecimal(env, 'REPLICATE_READ_LOCAL_SHARE', {
      min: 0,
      max: 0.9,
      fallback: DEFAULT_LOCAL_READ_SHARE,
      meaning:
        'the part of REPLICATE_READ_RPM the workers spend on local polls; 0 = every poll on the reads queue',
    }),
  };
}

/**
 * The workflows' task queue carries the creates, so its server-side rate comes from REPLICATE_CREATE_RPM;
 * MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND, when set, can only lower it. With REPLICATE_CREATE_RPM=off it alone decides:
 * unset, the queue has no rate limit of ours.
 */
function mainQueueRate(env: Env, limits: ReplicateRateLimits): { maxTaskQueueActivitiesPerSecond?: number } {
  const explicit = readDecimal(env, 'MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND', {
    min: 0.01,
    max: 1_000_000,
    meaning: "activities a second on the workflows' task queue, all workers together",
  });
  const fromCreates =
    limits.createsPerMinute === null ? undefined : serverRatePerSecond(limits.createsPerMinute);
  const rate =
    explicit === undefined || fromCreates === undefined
      ? (explicit ?? fromCreates)
      : Math.min(explicit, fromCreates);
  return rate === undefined ? {} : { maxTaskQueueActivitiesPerSecond: rate };
}

/** REPLICATE_MODEL_CONCURRENCY="owner/name=N,deployments/owner/name=N": per-model slots (src/shared/slots.ts). */
export function readModelConcurrency(env: Env = process.env): { modelConcurrency?: Record<string, number> } {
  const raw = env.REPLICATE_MODEL_CONCURRENCY?.trim();
  if (!raw) return {};
  const parsed = parseModelConcurrency(raw);
  if ('error' in parsed) throw new ConfigError(`REPLICATE_MODEL_CONCURRENCY: ${parsed.error as string}`);
  return { modelConcurrency: parsed };
}

/**
 * HEALTH_PORT: the worker's liveness/readiness endpoints (src/worker/health.ts); HEALTH_HOST their bind address,
 * default 127.0.0.1 (this machine only; a container whose probes come from outside sets 0.0.0.0).
 */
export function readHealth(env: Env = process.env): { health?: { port: number; host: string } } {
  const port = readPort(env, 'HEALTH_PORT', 0, 'for GET /healthz and /readyz, or unset (no endpoints)');
  if (port === undefined) return {};
  return { health: { port, host: env.HEALTH_HOST?.trim() || LOOPBACK } };
}

/**
 * METRICS_PORT: the Prometheus endpoint (/metrics: our server, forwarding to the SDK runtime's exporter on a private
 * loopback port); METRICS_HOST its bind address, default 127.0.0.1 (a container scraped from outside sets 0.0.0.0).
 * Port 0 is refused: Prometheus must be told the port.
 */
export function readMetrics(env: Env = process.env): { metrics?: { port: number; host: string } } {
  const port = readPort(env, 'METRICS_PORT', 1, "for Prometheus' GET /metrics, or unset (no metrics)");
  if (port === undefined) return {};
  const host = env.METRICS_HOST?.trim() || LOOPBACK;
  if (isIP(host) === 0) {
    throw new ConfigError(
      `METRICS_HOST="${host}" must be an IP address to bind /metrics to, e.g. 127.0.0.1 (default), 0.0.0.0 or ::`,
    );
  }
  return { metrics: { port, host } };
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

/** OUTPUT_URL: only `s3://bucket[/prefix]` (src/activities/output-files/output-url.ts says why a value is wrong). */
export function readOutputUrl(env: Env): { outputUrl?: string } {
  const raw = env.OUTPUT_URL?.trim();
  if (!raw) return {};
  try {
    parseOutputUrl(raw);
  } catch (error) {
    if (error instanceof OutputUrlError) throw new ConfigError(error.message);
    throw error;
  }
  return { outputUrl: raw };
}

function readOutputAllowedOrigins(env: Env): { outputAllowedOrigins?: string[] } {
  const origins = readOrigins(env, 'OUTPUT_ALLOWED_ORIGINS', 'https://cdn.example.com');
  return origins.length > 0 ? { outputAllowedOrigins: origins } : {};
}

function readCacheSize(env: Env): { maxCachedWorkflows?: number } {
  const value = readDecimal(env, 'MAX_CACHED_WORKFLOWS', {
    min: 0,
    max: 1_000_000,
    integer: true,
    meaning: "workflows in the sticky cache; 0 disables it, unset = the SDK's default",
  });
  return value === undefined ? {} : { maxCachedWorkflows: value };
}

/** WORKFLOW_BUNDLE, checked: it exists and was built for this mode (with or without encryption). */
export function readBundlePath(env: Env, encrypted: boolean): { workflowBundlePath?: string } {
  const raw = env.WORKFLOW_BUNDLE?.trim();
  if (!raw) return {};
  if (!existsSync(raw)) {
    throw new ConfigError(
      `WORKFLOW_BUNDLE="${raw}" does not exist: run \`npm run build:workflows\` (writes lib/workflow-bundle.js) or unset it`,
    );
  }
  // with ENCRYPTION_KEY the bundle must hold the encrypted failure converter (it runs in the sandbox), else not
  const problem = bundleModeProblem(raw, encrypted);
  if (problem) throw new ConfigError(problem);
  return { workflowBundlePath: path.resolve(raw) };
}
