/** Process configuration: read from the environment once, at the edge, into a typed object. */

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
  };
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
