/** Sizes, limits and timeouts of pipelines: what a spec may ask for and what one step may send at once. */
import { parseDuration } from '../duration';
import { MAX_INPUT_BYTES } from '../validate';
import { PIPELINE_DEFAULTS, PipelineSpecError, type PipelineSpec } from './spec';

export const PIPELINE_LIMITS = {
  maxCount: 50,
  maxForeachItems: 100,
  maxNameLength: 60,
} as const;

/** Largest total input of one step's predictions: they all start in one workflow task, which Temporal caps at 4 MB. */
export const MAX_STEP_INPUT_BYTES = 3_000_000;

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
