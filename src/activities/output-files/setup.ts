/** The configuration of the output activities, and the setup they share once its defaults are applied. */
import { PERSIST_ACTIVITY } from '../../shared/pipeline';
import { storeClaimStore, type ClaimKey, type ClaimStore } from '../claims';
import { REPLICATE_DELIVERY_DOMAIN } from './origins';
import type { OutputStore } from './store';
import { outputStore } from './stores';

export interface OutputConfig {
  /**
   * where outputs live: `s3://bucket[/prefix]` (OUTPUT_URL; the S3 client from the standard AWS environment), a
   * folder, or an OutputStore; files go to <store>/<folderName(pipelineId)>/<folderName(step)>/. Default: outputDir.
   */
  store?: string | OutputStore;
  /** root folder when `store` is not given (default `outputs`) */
  outputDir?: string;
  /**
   * origins (scheme://host[:port]) output files may be fetched from besides Replicate's delivery hosts
   * (https://replicate.delivery and its subdomains): the worker passes the API origin and OUTPUT_ALLOWED_ORIGINS
   */
  allowedOrigins?: string[];
  /** largest file accepted, bytes (default 1 GiB) */
  maxFileBytes?: number;
  /** no data for this long aborts the download, ms (default 60 s) */
  idleTimeoutMs?: number;
  /** heartbeat this often while persisting, ms (default 5 s; the workflow's heartbeat timeout is 30 s) */
  heartbeatIntervalMs?: number;
  /** redirects followed per file, each hop checked against the allowed origins (default 5) */
  maxRedirects?: number;
  /** where outputs too large for Temporal are kept (claim checks; default `.claims/` in the store) */
  claims?: ClaimStore;
  /**
   * the fleet's claim key (`claimKey(token)`; createActivities passes it): an output that is a reference it signed
   * is read from `claims` for its files. Without it, no reference is read.
   */
  claimKey?: ClaimKey;
  fetch?: typeof fetch;
  /**
   * single runs (`runPrediction`) keep their output files here unless they say `persist: false` (default true;
   * createActivities passes false when neither outputStore nor outputDir was given)
   */
  keepRunOutputs?: boolean;
}

export const DEFAULT_MAX_FILE_BYTES = 1024 ** 3;

/** `OutputConfig` with its defaults applied, built once by `createOutputActivities` for both activities. */
export interface OutputSetup {
  maxBytes: number;
  idleMs: number;
  beatMs: number;
  maxRedirects: number;
  claims: ClaimStore;
  claimKey: ClaimKey | undefined;
  fetch: typeof fetch;
  /** the configured extra origins (Replicate's delivery hosts are always allowed) */
  allowed: Set<string>;
  /** every allowed origin, for messages */
  allowedText: string;
  /** where files and manifests go */
  store: OutputStore;
}

export function outputSetup(config: OutputConfig): OutputSetup {
  const allowed = new Set((config.allowedOrigins ?? []).map((o) => new URL(o).origin));
  const store = outputStore(config.store ?? config.outputDir ?? 'outputs');
  return {
    maxBytes: config.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
    idleMs: config.idleTimeoutMs ?? PERSIST_ACTIVITY.idleTimeoutMs,
    beatMs: config.heartbeatIntervalMs ?? PERSIST_ACTIVITY.heartbeatIntervalMs,
    maxRedirects: config.maxRedirects ?? 5,
    claims: config.claims ?? storeClaimStore(store),
    claimKey: config.claimKey,
    fetch: config.fetch ?? fetch,
    allowed,
    allowedText: [
      `https://${REPLICATE_DELIVERY_DOMAIN}`,
      `https://*.${REPLICATE_DELIVERY_DOMAIN}`,
      ...allowed,
    ].join(', '),
    store,
  };
}
