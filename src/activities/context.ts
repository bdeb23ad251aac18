/**
 * What every Replicate activity shares: the configuration, the HTTP timeouts in force, the claim store, and the
 * two steps each call takes: `call` (one HTTP exchange, failures typed for Temporal) and `shaped` (Replicate's
 * answer as the workflow may see it). The token stays in the worker process: never in workflow arguments or
 * results.
 */
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type Replicate from 'replicate';
import type { CreateOutcome, ReplicateCallDetails } from '../shared/failure-details';
import type { Classified } from '../shared/classify';
import type { JobKind, Prediction, PredictionSnapshot } from '../shared/types';
import { claimKey, fileClaimStore, signClaim, type ClaimKey, type ClaimStore } from './claims';
import { ReplicateCallError, replicateCall, type ReplicateHttpConfig } from './replicate-client';
import { needsClaim, redact, snapshot } from './snapshot';
import { TimingBook } from './timings';

export interface ActivityConfig extends ReplicateHttpConfig {
  /** public base URL of our webhook receiver (WEBHOOK_BASE_URL); creates then ask Replicate for webhooks */
  webhookBaseUrl?: string;
  /** per-request timeouts, ms */
  timeouts?: { createMs?: number; getMs?: number; cancelMs?: number };
  /**
   * Where outputs too large for a Temporal payload are kept (claim checks): a folder shared with the CLI
   * (default `outputs/.claims`), or any ClaimStore.
   */
  claims?: string | ClaimStore;
  /** outputs whose JSON is larger travel as a claim reference (default MAX_INLINE_OUTPUT_BYTES, 256 KiB) */
  maxInlineOutputBytes?: number;
  /**
   * The rate-limited task queue this fleet serves reads on (src/worker/flow-control.ts): creates hand it to their runs,
   * which then poll and cancel there. Set it only where a Worker polls that queue; unset = runs poll locally.
   */
  readsTaskQueue?: string;
  /**
   * This worker's share of the fleet's reads budget (src/worker/read-share.ts): with the reads queue, creates tell
   * their runs to poll with local activities within it (`tryGetPrediction`).
   */
  readShare?: ReadShare;
}

/** What a poll may do now, as a worker's share of the fleet's reads budget says. */
export type ReadGrant =
  /** read now */
  | { now: true }
  /** wait this long; `reserved`: then read without asking again (the share counted the read already) */
  | { waitMs: number; reserved: boolean }
  /** the worker cannot tell its share: poll on the rate-limited reads queue */
  | { queue: true };

/** A source of reads within the fleet's budget. */
export interface ReadShare {
  grant(): ReadGrant;
}

export const DEFAULT_HTTP_TIMEOUTS = { createMs: 30_000, getMs: 15_000, cancelMs: 10_000 };

/** The configuration with its defaults applied, built once by `createActivities` for all its activities. */
export interface ActivitySetup {
  config: ActivityConfig;
  timeouts: typeof DEFAULT_HTTP_TIMEOUTS;
  claims: ClaimStore;
  /** signs the claim references this worker places, and verifies those it is asked to expand */
  claimKey: ClaimKey;
  /** the models' recent timings, learnt from the jobs these activities see (./timings.ts) */
  timings: TimingBook;
}

export function activitySetup(config: ActivityConfig): ActivitySetup {
  return {
    config,
    timeouts: { ...DEFAULT_HTTP_TIMEOUTS, ...config.timeouts },
    claims:
      typeof config.claims === 'object' ? config.claims : fileClaimStore(config.claims ?? 'outputs/.claims'),
    claimKey: claimKey(config.token),
    timings: new TimingBook(),
  };
}

/**
 * Replicate's answer as the workflow may see it: texts cleaned, a large final output stored as a claim. A job that
 * succeeded adds to its model's timing.
 */
export async function shaped(
  setup: ActivitySetup,
  job: Prediction,
  kind: JobKind = 'prediction',
): Promise<PredictionSnapshot> {
  const { config, claims } = setup;
  setup.timings.record(kind, job);
  const s = snapshot(job, { token: config.token, maxInlineOutputBytes: config.maxInlineOutputBytes });
  if (!needsClaim(s)) return s;
  const { outputOmitted: _omitted, ...rest } = s;
  const ref = signClaim(await claims.put(job.output), setup.claimKey);
  log.info(`${s.id}: output of ${ref.bytes} bytes stored out of band as ${ref.$claim}`, {
    predictionId: s.id,
    model: s.model,
    bytes: ref.bytes,
  });
  return { ...rest, output: ref };
}

/** One HTTP exchange, failures converted to typed ApplicationFailures (retry reason logged). */
export async function call<T>(
  setup: ActivitySetup,
  operation: string,
  timeoutMs: number,
  fn: (client: Replicate) => Promise<T>,
  kind: 'read' | 'create' = 'read',
): Promise<T> {
  const { config } = setup;
  const ctx = Context.current();
  if (ctx.info.attempt > 1) log.info(`${operation}: attempt ${ctx.info.attempt}`);
  try {
    return await replicateCall(
      config,
      { operation, timeoutMs, signal: ctx.cancellationSignal, meter: ctx.metricMeter },
      fn,
    );
  } catch (error) {
    if (!(error instanceof ReplicateCallError)) throw error;
    const c = error.classified;
    const message = redact(c.message, config.token);
    log.warn(message, {
      failureType: c.type,
      httpStatus: c.status,
      retryable: !c.nonRetryable,
      nextRetryDelayMs: c.nextRetryDelayMs,
      attempt: ctx.info.attempt,
    });
    throw replicateFailure(c, message, kind === 'create' ? createOutcomeOf(c) : undefined);
  }
}

/**
 * The ApplicationFailure of a failed exchange: its type, message (token already redacted) and retry delay, and the
 * typed details the workflow reads (src/shared/failure-details.ts): a 429's Retry-After, whether a create may have
 * made a job.
 */
export function replicateFailure(
  c: Classified,
  message: string,
  createOutcome?: CreateOutcome,
): ApplicationFailure {
  return ApplicationFailure.create({
    type: c.type,
    message,
    nonRetryable: c.nonRetryable,
    nextRetryDelay: c.nextRetryDelayMs,
    details: [
      {
        httpStatus: c.status ?? null,
        detail: c.detail ?? null,
        invalidFields: c.invalidFields ?? null,
        // the workflow reads a 429's Retry-After here (nextRetryDelay does not reach workflow code)
        retryAfterMs: c.nextRetryDelayMs ?? null,
        ...(createOutcome ? { createOutcome } : {}),
      } satisfies ReplicateCallDetails,
    ],
  });
}

/**
 * Whether a failed create may have made a prediction: only a 4xx answer (429 included) or a connection never made
 * proves it did not; a 5xx, a timeout or a connection lost after the body left may have committed.
 */
export function createOutcomeOf(c: Classified): CreateOutcome {
  if (c.notSent) return 'not-created';
  if (c.status !== undefined && c.status >= 400 && c.status < 500 && c.status !== 408) return 'not-created';
  return 'may-have-committed';
}
