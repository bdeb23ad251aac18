/**
 * The settings of a job run that its history depends on: patch ids, activity options (retry policies are explicit
 * so they read the same in code and in the history), the ceiling and fallback polling. Deterministic code only.
 */
import type { ActivityOptions } from '@temporalio/workflow';
import { NON_RETRYABLE_REPLICATE_ERRORS } from '../../shared/failures';

/**
 * With webhooks on, polling is only the fallback for lost deliveries (Replicate already retries the terminal
 * webhook): 60 s, ×2, capped at 5 min, restarted by every webhook, so a job of up to 3 minutes costs at most one
 * GET besides its create. Runs recorded before POLLING_V5_PATCH keep the earlier 30 s ×1.5 ≤ 2 min on replay.
 */
export const WEBHOOK_FALLBACK_POLLING = {
  initialIntervalMs: 60_000,
  multiplier: 2,
  maxIntervalMs: 300_000,
};
export const WEBHOOK_FALLBACK_POLLING_V4 = {
  initialIntervalMs: 30_000,
  multiplier: 1.5,
  maxIntervalMs: 120_000,
};

/** Ceiling used when the workflow was started without an execution timeout. */
export const DEFAULT_CEILING_MS = 10 * 60_000;
/** Continue-as-new after this many polls in one run (a poll adds a marker, a timer and a workflow task). */
export const DEFAULT_MAX_POLLS_PER_RUN = 500;
/** Shortest time between our deadline and the ceiling we accept; leaves room for the remote cancel. */
export const MIN_RUN_MS = 5_000;
/** Patch id: runs recorded before search attributes existed replay without upserts. */
export const SEARCH_ATTRIBUTES_PATCH = 'search-attributes-v1';
/**
 * Polling as of v5, in one patch: (1) status polls are local activities: the same call, timeouts and retry
 * policy, but one marker per poll instead of three activity events and a second workflow task (the history
 * sizes are in the README, Benchmarks). Create and cancel stay
 * regular activities: their retries and policies are what the history must show. (2) The webhook fallback
 * schedule is WEBHOOK_FALLBACK_POLLING. Runs recorded before the patch keep both old behaviours on replay.
 */
export const POLLING_V5_PATCH = 'local-activity-polls-v1';
/**
 * v6, in one patch: (1) a status read is safe to retry, so a poll that fails for a transient reason (5xx, network,
 * timeout, 429) no longer fails the run: the workflow records it, waits its next backoff interval (at least the
 * 429's Retry-After) and polls again, until its own deadline; an outage alone never cancels the prediction. Each
 * poll's schedule-to-close ends at the deadline, computed per poll. (2) Webhook news is kept per job id: news about
 * another prediction is ignored. (3) Continue-as-new carries the webhook mode and buffered webhook news. (4) A
 * webhook whose output was too large to signal (outputOmitted) triggers an immediate GET instead of ending the run.
 * Runs recorded before the patch keep the v5 behaviour on replay.
 */
export const RESILIENCE_V6_PATCH = 'outages-and-late-news-v1';
/**
 * Fleet-wide rate limits (src/worker/flow-control.ts), in one patch: (1) a create has no maximum number of attempts
 * (createOptionsV7): its schedule-to-close already ends at the run's deadline, so a long 429 storm (low credit) only
 * delays it, each retry after Retry-After; the activity still ends other transient failures at attempt 8. (2) When
 * the create's answer names the fleet's reads queue (`readsTaskQueue`), status polls are regular activities there
 * (rate-limited for the whole fleet by the server) instead of local activities, and so are cancels; the name is
 * carried across continue-as-new. Runs recorded before the patch keep 8 attempts and local polls on replay.
 */
export const FLEET_RATE_LIMITS_PATCH = 'fleet-rate-limits-v1';

/**
 * Default safety margin between our deadline and the workflow's execution timeout: 10 % of the timeout, at least
 * 2 s, at most 15 s. It must cover one cancel call (10 s HTTP timeout) plus a retry.
 */
export function defaultDeadlineMarginMs(ceilingMs: number): number {
  return Math.min(15_000, Math.max(2_000, Math.round(ceilingMs * 0.1)));
}

/** Retry policies are explicit so they read the same in code and in the workflow history. */
export const createOptions: ActivityOptions = {
  startToCloseTimeout: '40s', // HTTP timeout 30 s + margin; a listing for adoption stays well inside
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '20s',
    maximumAttempts: 8,
    nonRetryableErrorTypes: NON_RETRYABLE_REPLICATE_ERRORS,
  },
};
/** fleet-rate-limits-v1: as createOptions, but only the deadline (schedule-to-close) ends a 429 storm. */
export const createOptionsV7: ActivityOptions = {
  ...createOptions,
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '20s',
    // no maximumAttempts (unlimited): the activity itself ends non-429 failures at attempt 8
    nonRetryableErrorTypes: NON_RETRYABLE_REPLICATE_ERRORS,
  },
};
export const getOptions: ActivityOptions = {
  startToCloseTimeout: '20s', // HTTP timeout 15 s + margin
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '15s',
    maximumAttempts: 10,
    nonRetryableErrorTypes: NON_RETRYABLE_REPLICATE_ERRORS,
  },
};
/**
 * v6 polls: a short retry inside one poll absorbs a blip; a longer outage is ridden out by the workflow's own
 * backoff between polls (durable timers), until the deadline. Nothing here gives up on the job.
 */
export const getOptionsV6: ActivityOptions = {
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
