/**
 * The settings of a job run that its history depends on: activity options (retry policies are explicit
 * so they read the same in code and in the history), the ceiling and fallback polling. Deterministic code only.
 */
import type { ActivityOptions } from '@temporalio/workflow';
import { NON_RETRYABLE_REPLICATE_ERRORS } from '../../shared/failures';

/**
 * With webhooks on, polling is only the fallback for lost deliveries (Replicate already retries the terminal
 * webhook): 60 s, ×2, capped at 5 min, restarted by every webhook, so a job of up to 3 minutes costs at most one
 * GET besides its create.
 */
export const WEBHOOK_FALLBACK_POLLING = {
  initialIntervalMs: 60_000,
  multiplier: 2,
  maxIntervalMs: 300_000,
};

/** Ceiling used when the workflow was started without an execution timeout. */
export const DEFAULT_CEILING_MS = 10 * 60_000;
/** Continue-as-new after this many polls in one run (a poll adds a marker, a timer and a workflow task). */
export const DEFAULT_MAX_POLLS_PER_RUN = 500;
/** Shortest time between our deadline and the ceiling we accept; leaves room for the remote cancel. */
export const MIN_RUN_MS = 5_000;
/**
 * Default safety margin between our deadline and the workflow's execution timeout: 10 % of the timeout, at least
 * 2 s, at most 15 s. It must cover one cancel call (10 s HTTP timeout) plus a retry.
 */
export function defaultDeadlineMarginMs(ceilingMs: number): number {
  return Math.min(15_000, Math.max(2_000, Math.round(ceilingMs * 0.1)));
}

/**
 * Retry policies are explicit so they read the same in code and in the workflow history. A create has no maximum
 * number of attempts: its schedule-to-close ends at the run's deadline, so a long 429 storm (low credit) only delays
 * it, each retry after Retry-After; the activity itself ends other transient failures at attempt 8.
 */
export const createOptions: ActivityOptions = {
  startToCloseTimeout: '40s', // HTTP timeout 30 s + margin; a listing for adoption stays well inside
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '20s',
    nonRetryableErrorTypes: NON_RETRYABLE_REPLICATE_ERRORS,
  },
};
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
