/**
 * Fleet-wide rate limits for the calls to Replicate (REPLICATE_CREATE_RPM, REPLICATE_READ_RPM), with Temporal's
 * own mechanism and no new infrastructure: the server-side task-queue rate limit (`maxTaskQueueActivitiesPerSecond`),
 * which the matching service applies to the whole queue, whatever the number of workers polling it.
 *
 * - Creates run on the workflows' task queue, limited to REPLICATE_CREATE_RPM (src/config/index.ts turns it into that
 *   queue's rate). The few other activities there (output persistence, the reconciler's) share that budget.
 * - Status polls, cancels and lists run on `<taskQueue>-replicate-reads`, limited to REPLICATE_READ_RPM, served by
 *   a second Worker in every worker process (`readsWorkerOptions`). The workflow learns that queue's name from its
 *   create's answer (`PredictionSnapshot.readsTaskQueue`), recorded in its history: a worker set up without the
 *   reads queue (an embedding app, the tests' fakes, REPLICATE_READ_RPM=off) answers without it and its runs keep
 *   polling with local activities, so nothing waits on a queue that nobody polls.
 *
 * A task that the limit holds back waits in the queue (delayed, never failed); its schedule-to-close still ends at
 * the run's deadline. Retries are dispatched through the same queue, so they count too.
 */
import type { WorkerOptions } from '@temporalio/worker';

/** The activities that only read (or cancel) at Replicate: the "other requests" budget. */
export const READ_ACTIVITIES = ['getPrediction', 'cancelPrediction', 'listRecentJobs'] as const;

/** Default budgets (Replicate's published limits per account). */
export const DEFAULT_CREATE_RPM = 600;
export const DEFAULT_READ_RPM = 3_000;

/** Budgets per minute; null = no limit of ours (REPLICATE_*_RPM=off). */
export interface ReplicateRateLimits {
  createsPerMinute: number | null;
  readsPerMinute: number | null;
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
 * on the reads queue, rate-limited for the whole fleet. Activities only: no workflows run there. With
 * REPLICATE_READ_RPM=off (null) it still serves the queue, without a limit, so that runs created while a limit was on
 * (they poll there until they end) still finish; new runs then poll with local activities.
 */
export function readsWorkerOptions(main: WorkerOptions, readsPerMinute: number | null): WorkerOptions {
  const activities = (main.activities ?? {}) as Record<string, unknown>;
  return {
    connection: main.connection,
    namespace: main.namespace,
    taskQueue: readsTaskQueue(main.taskQueue),
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
