/**
 * The retry policies and timeouts of every activity the workflows call, in one place. They are explicit (not SDK
 * defaults) so they read the same here and in the workflow history. Changing one changes workflow behaviour: from
 * 1.0 on, only behind `patched()` with newly recorded histories (CHANGELOG.md, "Workflow compatibility").
 * A schedule-to-close that ends at the run's deadline is added where the activity is called.
 */
import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';
import { NON_RETRYABLE_REPLICATE_ERRORS, PipelineFailureType } from '../shared/failures';
import { PERSIST_ACTIVITY } from '../shared/pipeline';

/**
 * One create attempt per activity execution (no Temporal retry): whether an attempt may have made a prediction must
 * be in the history before the next one is sent, so the workflow retries creates itself (CREATE_RETRY, in
 * ./job/create.ts): only after an attempt that may have committed does it search for that attempt's job first.
 */
export const createOptions: ActivityOptions = {
  startToCloseTimeout: '40s', // HTTP timeout 30 s + margin
  retry: { maximumAttempts: 1 },
};

/**
 * The workflow's retries of a create: 1 s, ×2, at most 20 s apart, and never sooner than a 429's Retry-After. A 429
 * storm (low credit) only delays the create, until the run's deadline; any other transient failure (5xx, network,
 * timeout) ends the run at attempt 8.
 */
export const CREATE_RETRY = {
  initialIntervalMs: 1_000,
  multiplier: 2,
  maxIntervalMs: 20_000,
  maxAttemptsUnlessRateLimited: 8,
} as const;

/** The search for a lost attempt's job: a listing and a few reads (on the reads queue when the fleet has one). */
export const findOwnJobsOptions: ActivityOptions = {
  startToCloseTimeout: '2m',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '10s',
    maximumAttempts: 5,
    nonRetryableErrorTypes: NON_RETRYABLE_REPLICATE_ERRORS,
  },
};

/**
 * After an attempt that may have committed, Replicate may still commit it long after (we have seen 38 s): the run's
 * late-commit watch (./late-commits.ts) looks for such a job every `everyMs` until `windowMs` after the last such
 * attempt was sent, and cancels it (a commit is canceled within about everyMs plus one listing of its appearance).
 */
export const LATE_COMMIT_WATCH = { windowMs: 180_000, everyMs: 15_000 } as const;

/**
 * Polls: a short retry inside one poll absorbs a blip; a longer outage is ridden out by the workflow's own backoff
 * between polls (durable timers), until the deadline. Nothing here gives up on the job.
 */
export const getOptions: ActivityOptions = {
  startToCloseTimeout: '20s', // HTTP timeout 15 s + margin
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '4s',
    maximumAttempts: 3,
    nonRetryableErrorTypes: NON_RETRYABLE_REPLICATE_ERRORS,
  },
};

/**
 * The same poll as a local activity: no start-to-close (each attempt is bounded by the HTTP client's own timeout,
 * 15 s; the caller's schedule-to-close ends the poll at the deadline). Why: the SDK's core (1.24) arms a new
 * start-to-close timer for each local retry without stopping the previous one, and when such a timer fires after its
 * Worker has shut down it panics on stderr ("receive half not dropped"); without the timeout there is none.
 */
export const localGetOptions: LocalActivityOptions = {
  retry: getOptions.retry,
};

/** A remote cancel: quick, bounded (Replicate's Cancel-After still stops the job if it fails). */
export const cancelOptions: ActivityOptions = {
  startToCloseTimeout: '12s', // HTTP timeout 10 s + margin
  scheduleToCloseTimeout: '40s',
  retry: {
    initialInterval: '500ms',
    backoffCoefficient: 2,
    maximumInterval: '4s',
    maximumAttempts: 5,
    nonRetryableErrorTypes: NON_RETRYABLE_REPLICATE_ERRORS,
  },
};

/** A run asks its model's limiter for a slot (update-with-start); retried until the run's deadline. */
export const requestSlotOptions: ActivityOptions = {
  startToCloseTimeout: '20s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s' },
};

/**
 * A run gives its slot back at its end: a minute at most (the limiter recovers the slot of a closed run by itself
 * if this fails).
 */
export const releaseSlotOptions: ActivityOptions = {
  startToCloseTimeout: '20s',
  scheduleToCloseTimeout: '1m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s' },
};

/** A few retries over about a minute: the store, the limiter's look at Temporal, the reconciler's calls. */
const FEW_RETRIES = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  maximumAttempts: 5,
};

/** The limiter asks Temporal which of its holders still run. */
export const slotHoldersOptions: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: FEW_RETRIES,
};

/** The reconciler's listing and cancels at Replicate. */
export const reconcileReplicateOptions: ActivityOptions = {
  startToCloseTimeout: '2m',
  retry: {
    ...FEW_RETRIES,
    nonRetryableErrorTypes: NON_RETRYABLE_REPLICATE_ERRORS,
  },
};

/** The reconciler's look at Temporal: which runs made and own the listed jobs. */
export const classifyJobsOptions: ActivityOptions = {
  startToCloseTimeout: '3m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
};

/** Persisting a step's outputs and writing the manifest: heartbeats every 5 s; a retry resumes where it stopped. */
export const persistOptions: ActivityOptions = {
  startToCloseTimeout: '30m',
  // the activity heartbeats every 5 s (also while a download waits); its own idle timeout ends stalled downloads
  heartbeatTimeout: PERSIST_ACTIVITY.heartbeatTimeoutMs,
  retry: {
    ...FEW_RETRIES,
    nonRetryableErrorTypes: [PipelineFailureType.OutputUnavailable, PipelineFailureType.OutputTooLarge],
  },
};

/** Storing one value in the claim store (a pipeline report's large output): a single write, retried a few times. */
export const claimOptions: ActivityOptions = {
  startToCloseTimeout: '2m',
  retry: FEW_RETRIES,
};

/** Reusing earlier results (a rerun's, the result cache's): copies files between folders of the store, heartbeating. */
export const reuseOptions: ActivityOptions = {
  startToCloseTimeout: '30m',
  heartbeatTimeout: PERSIST_ACTIVITY.heartbeatTimeoutMs,
  retry: FEW_RETRIES,
};

/**
 * Staging a step's chained input files (data: URLs, uploads to Replicate's files API of up to 100 MiB): a file over
 * the limit is not retried.
 */
export const stageOptions: ActivityOptions = {
  startToCloseTimeout: '10m',
  heartbeatTimeout: PERSIST_ACTIVITY.heartbeatTimeoutMs,
  retry: {
    ...FEW_RETRIES,
    nonRetryableErrorTypes: [
      ...NON_RETRYABLE_REPLICATE_ERRORS,
      PipelineFailureType.InputFileTooLarge,
      PipelineFailureType.OutputUnavailable,
    ],
  },
};

/**
 * A single run keeping its output files (like a pipeline step's): an embedder's worker without the activity
 * (`NotFoundError`) keeps nothing, at once.
 */
export const keepOptions: ActivityOptions = {
  ...persistOptions,
  retry: {
    ...persistOptions.retry,
    nonRetryableErrorTypes: [...(persistOptions.retry?.nonRetryableErrorTypes ?? []), 'NotFoundError'],
  },
};
