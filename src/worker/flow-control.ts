/**
 * Fleet-wide rate limits for the calls to Replicate (REPLICATE_CREATE_RPM, REPLICATE_READ_RPM), with Temporal's
 * own mechanism and no new infrastructure: the server-side task-queue rate limit (`maxTaskQueueActivitiesPerSecond`),
 * which the matching service applies to the whole queue, whatever the number of workers polling it.
 *
 * - Creates run on the workflows' task queue, limited to REPLICATE_CREATE_RPM (src/config/index.ts turns it into that
 *   queue's rate). The other activities there (keeping a run's outputs, a pipeline's, the limiter's slot requests,
 *   the reconciler's) are dispatched at that rate too: near the budget a finished run waits behind creates to keep
 *   its files (docs/budgets-and-limits.md, "Known limit").
 * - Reads: most of REPLICATE_READ_RPM (REPLICATE_READ_LOCAL_SHARE, 90 %) is split among the worker processes
 *   (./read-share.ts), which make status polls as local activities within their share (a poll that finds it spent
 *   waits its turn on a timer): far under the budget, polls cost what unlimited local polls cost. The rest is the
 *   rate of `<taskQueue>-replicate-reads`, served by a second Worker in every worker process (`readsWorkerOptions`,
 *   whose pollers are also how the workers count each other): cancels, lists, and the polls of a worker that cannot
 *   tell its share run there. The workflow learns that queue's name (and whether to poll locally first) from its
 *   create's answer (`PredictionSnapshot.readsTaskQueue`, `localReads`), recorded in its history: a worker set up
 *   without the reads queue (an embedding app, the tests' fakes, REPLICATE_READ_RPM=off) answers without it and its
 *   runs keep polling with plain local activities, so nothing waits on a queue that nobody polls.
 *
 * A task that the limit holds back waits in the queue (delayed, never failed); its schedule-to-close still ends at
 * the run's deadline. Retries are dispatched through the same queue, so they count too.
 */
import type { WorkerOptions } from '@temporalio/worker';
import { DEFAULT_LOCAL_READ_SHARE } from './read-share';

/** The activities that only read (or cancel) at Replicate: the "other requests" budget. */
export const READ_ACTIVITIES = ['getPrediction', 'cancelPrediction', 'listRecentJobs'] as const;

/** Default budgets (Replicate's published limits per account). */
export const DEFAULT_CREATE_RPM = 600;
export const DEFAULT_READ_RPM = 3_000;

/** Budgets per minute; null = no limit of ours (REPLICATE_*_RPM=off). */
export interface ReplicateRateLimits {
  createsPerMinute: number | null;
  readsPerMinute: number | null;
  /**
   * REPLICATE_READ_LOCAL_SHARE: the part of the reads budget the workers spend on local polls, split among them
   * (./read-share.ts); the reads queue's server-side rate is the rest. Default DEFAULT_LOCAL_READ_SHARE (0.9); 0 =
   * every poll through the reads queue.
   */
  localReadShare?: number;
}

/** The reads budget a minute the workers may spend locally (0 without a reads budget, or with a share of 0). */
export function localReadsPerMinute(limits: ReplicateRateLimits): number {
  if (limits.readsPerMinute === null) return 0;
  return limits.readsPerMinute * (limits.localReadShare ?? DEFAULT_LOCAL_READ_SHARE);
}

/** What the reads queue's server-side limit keeps of the budget (the rest of the local share), a minute. */
export function queuedReadsPerMinute(limits: ReplicateRateLimits): number | null {
  if (limits.readsPerMinute === null) return null;
  return Math.max(1, limits.readsPerMinute - localReadsPerMinute(limits));
}

/** The task queue of the rate-limited reads of a fleet whose workflows run on `taskQueue`. */
export function readsTaskQueue(taskQueue: string): string {
  return `${taskQueue}-replicate-reads`;
}

/**
 * Temporal's default number of partitions per task queue (`matching.numTaskqueueReadPartitions`). The server divides
 * the queue's rate among them and gives each a token bucket of burst max(1, ceil(its rate)).
 */
export const SERVER_TASK_QUEUE_PARTITIONS = 4;

/**
 * The rate to ask of the server for `perMinute` calls a minute, so that no 60 s window ever holds more: the server's
 * buckets can start full (one burst per partition) and the refill must fit in the rest, with 5 % to spare for
 * clocks and dispatch jitter. 60/min → 0.883/s (53 a minute plus a burst of 4), 600/min → 9.3/s, 3,000/min → 46.6/s.
 * Never below a quarter of the nominal rate (tiny budgets, e.g. 6/min under low credit, then may burst above it:
 * Replicate's 429s and their Retry-After cover that).
 */
export function serverRatePerSecond(perMinute: number): number {
  const perSecond = perMinute / 60;
  const burst =
    SERVER_TASK_QUEUE_PARTITIONS * Math.max(1, Math.ceil(perSecond / SERVER_TASK_QUEUE_PARTITIONS));
  return Math.max(perSecond / 4, (perMinute * 0.95 - burst) / 60);
}

/**
 * The second Worker of a worker process: the read activities of `main` (the same instances, so the same HTTP setup)
 * on the reads queue, rate-limited for the whole fleet at what the local share leaves of the budget. Activities only:
 * no workflows run there. Its identity is `main`'s (the share counts the fleet's worker processes by the pollers of
 * this queue). With REPLICATE_READ_RPM=off (null) it still serves the queue, without a limit, so that runs created
 * while a limit was on (they poll there until they end) still finish; new runs then poll with local activities.
 */
export function readsWorkerOptions(main: WorkerOptions, limits: ReplicateRateLimits): WorkerOptions {
  const readsPerMinute = queuedReadsPerMinute(limits);
  const activities = (main.activities ?? {}) as Record<string, unknown>;
  return {
    connection: main.connection,
    namespace: main.namespace,
    taskQueue: readsTaskQueue(main.taskQueue),
    ...(main.identity !== undefined ? { identity: main.identity } : {}),
    activities: Object.fromEntries(READ_ACTIVITIES.map((name) => [name, activities[name]])),
    ...(readsPerMinute !== null
      ? { maxTaskQueueActivitiesPerSecond: serverRatePerSecond(readsPerMinute) }
      : {}),
    ...(main.shutdownGraceTime !== undefined ? { shutdownGraceTime: main.shutdownGraceTime } : {}),
    // ENCRYPTION_KEY: its activities' arguments and results are encrypted like the main queue's
    ...(main.dataConverter ? { dataConverter: main.dataConverter } : {}),
    // OTel (OTEL_*): polls and cancels get their activity spans here too; no workflows run on this queue
    ...(main.interceptors?.activity ? { interceptors: { activity: main.interceptors.activity } } : {}),
  };
}
