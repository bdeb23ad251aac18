/**
 * The ceiling policy, in one place: how long a run may take (its workflow execution timeout), where the run's own
 * deadline sits inside it, and what Replicate is told (`Cancel-After`). The workflows, the activities, the client
 * helpers and the CLI all read these values. Changing one changes workflow behaviour: from 1.0 on, only behind
 * `patched()` with newly recorded histories (CHANGELOG.md, "Workflow compatibility").
 */

/** The ceiling of a prediction or training started without one: 10 minutes. */
export const DEFAULT_CEILING_MS = 10 * 60_000;
/** The ceiling of a whole pipeline, and of each of its steps, when the spec does not say. */
export const DEFAULT_PIPELINE_TIMEOUT = '30m';
export const DEFAULT_STEP_TIMEOUT = '10m';

/** The shortest and longest ceiling a run or a pipeline accepts through the client helpers and the CLI: 10 s to 168 h. */
export const CEILING_RANGE_MS = { min: 10_000, max: 7 * 24 * 3_600_000 } as const;
/** The range of a pipeline spec's `timeout` and `stepTimeout`: 10 s to 24 h. */
export const PIPELINE_TIMEOUT_RANGE_MS = { min: 10_000, max: 86_400_000 } as const;

/** Shortest time between a run's deadline and its ceiling we accept; leaves room for the remote cancel. */
export const MIN_RUN_MS = 5_000;
/** Replicate refuses a `Cancel-After` below 5 seconds: a create with less time left is not sent. */
export const MIN_CANCEL_AFTER_MS = 5_000;
/** A pipeline step's child must end this long before the pipeline's own ceiling. */
export const STEP_CEILING_MARGIN_MS = 5_000;

/**
 * Default safety margin between a run's deadline and its ceiling: 10 % of the ceiling, at least 2 s, at most 15 s.
 * It covers one cancel call (10 s HTTP timeout) plus a retry: at the deadline the run can still cancel the job.
 */
export function defaultDeadlineMarginMs(ceilingMs: number): number {
  return Math.min(15_000, Math.max(2_000, Math.round(ceilingMs * 0.1)));
}

/** The shortest ceiling a run can work with: MIN_RUN_MS before its deadline, which sits its margin (2 s here) earlier. */
export const MIN_RUN_CEILING_MS = MIN_RUN_MS + defaultDeadlineMarginMs(MIN_RUN_MS + 2_000);

/**
 * The ceiling of a pipeline step's child, started at `nowMs`: the step's timeout, cut so that the child ends
 * STEP_CEILING_MARGIN_MS before the pipeline's ceiling; null when that leaves less than MIN_RUN_CEILING_MS (zero or
 * negative included: a workflow execution timeout of 0 means none at all).
 */
export function stepChildCeilingMs(
  stepTimeoutMs: number,
  pipelineCeilingMs: number,
  nowMs: number,
): number | null {
  const timeout = Math.min(stepTimeoutMs, pipelineCeilingMs - nowMs - STEP_CEILING_MARGIN_MS);
  return timeout >= MIN_RUN_CEILING_MS ? timeout : null;
}
