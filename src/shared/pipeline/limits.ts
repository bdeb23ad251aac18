/** Sizes, limits and timeouts of pipelines: what a spec may ask for and what one step may send at once. */
import { parseDuration } from '../duration';
import { MAX_INPUT_BYTES } from '../validate';
import { PIPELINE_DEFAULTS, PipelineSpecError, type PipelineSpec } from './spec';

export const PIPELINE_LIMITS = {
  maxCount: 50,
  maxForeachItems: 100,
  maxNameLength: 60,
  /**
   * predictions in one pipeline, counting `count` and `foreach` at their size (a foreach whose list is not known
   * before the run at its 100 items): each is a child workflow, Temporal fails the workflow task that would leave
   * more than 2,000 children pending (`limit.numPendingChildExecutions.error`), and the pipeline's history holds
   * them all (about 12 events each, Temporal's limit is 51,200)
   */
  maxRuns: 2_000,
} as const;

/** Largest total input of one step's predictions (each is also part of what starts together: MAX_START_BYTES). */
export const MAX_STEP_INPUT_BYTES = 3_000_000;

/**
 * Largest input of the children a pipeline starts in one workflow task: Temporal caps a task's completion at 4 MB
 * (the server terminates a workflow whose task is larger, `GrpcMessageTooLarge`), so further starts wait for the
 * next task (src/workflows/steps/start-gate.ts).
 */
export const MAX_START_BYTES = 3_000_000;

/**
 * Largest input of all the predictions of one pipeline together: every child's input is in the pipeline's history,
 * which Temporal caps at 50 MB (with the children's results and the spec).
 */
export const MAX_PIPELINE_INPUT_BYTES = 16_000_000;

/** What a child's start carries besides its input (ids, type, queue, timeouts, search attributes, summary). */
export const CHILD_START_OVERHEAD_BYTES = 1_000;

/** Bytes a child start with this input adds to its workflow task (its input as JSON, and the rest). */
export function startBytes(input: unknown): number {
  return new TextEncoder().encode(JSON.stringify(input)).length + CHILD_START_OVERHEAD_BYTES;
}

/**
 * Why a step's resolved inputs cannot be sent (each over MAX_INPUT_BYTES, or all together over
 * MAX_STEP_INPUT_BYTES), or null. A payload over Temporal's limit would fail every workflow task until the timeout.
 */
export function stepInputProblem(name: string, runs: { index: number; input: unknown }[]): string | null {
  let total = 0;
  for (const r of runs) {
    const size = new TextEncoder().encode(JSON.stringify(r.input)).length;
    total += size;
    if (size > MAX_INPUT_BYTES) {
      return `step ${name}: its input${runs.length > 1 ? ` [${r.index}]` : ''} is ${size} bytes of JSON, over the ${MAX_INPUT_BYTES}-byte limit (Temporal payloads are limited to 2 MB); pass large data as URLs`;
    }
  }
  if (total > MAX_STEP_INPUT_BYTES) {
    return `step ${name}: its ${runs.length} inputs are ${total} bytes of JSON together, over the ${MAX_STEP_INPUT_BYTES}-byte limit for one step (they start together, and Temporal limits what a workflow sends at once); pass large data as URLs`;
  }
  return null;
}

/**
 * The persist activity's timing, shared by the workflow (activity options) and the activity (defaults). The activity
 * heartbeats on a timer, also while it waits for an answer or a stalled stream, so the heartbeat timeout only
 * detects a dead worker; a download that stops sending data is ended by the activity's own idle timeout, with a
 * message that says so, and retried.
 */
export const PERSIST_ACTIVITY = {
  heartbeatTimeoutMs: 30_000,
  heartbeatIntervalMs: 5_000,
  idleTimeoutMs: 60_000,
} as const;

/** The pipeline-wide deadline in ms (spec.timeout, default 30m). */
export function pipelineTimeoutMs(spec: PipelineSpec): number {
  return durationMs(spec.timeout ?? PIPELINE_DEFAULTS.timeout);
}

/** The timeout of one step in ms: its own `timeout`, else the pipeline's `stepTimeout`, else 10m. */
export function stepTimeoutMs(spec: PipelineSpec, name: string): number {
  const step = Object.hasOwn(spec.steps, name) ? spec.steps[name] : undefined;
  return durationMs(step?.timeout ?? spec.stepTimeout ?? PIPELINE_DEFAULTS.stepTimeout);
}

function durationMs(text: string): number {
  const d = parseDuration(text);
  if ('error' in d) throw new PipelineSpecError([{ path: 'timeout', message: d.error }]);
  return d.ms;
}
