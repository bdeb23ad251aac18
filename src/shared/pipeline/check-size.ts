/**
 * What a whole pipeline will start, checked before anything starts: how many predictions (each a child workflow:
 * Temporal's limit of pending children, and the pipeline's history) and how many bytes of input (all of it in the
 * pipeline's history). Inputs known before the run (plain values, pipeline inputs, a foreach over them) are
 * measured; those made of earlier steps' outputs are measured by the workflow as it starts them
 * (src/workflows/steps/start-gate.ts).
 */
import { isPlainObject } from './helpers';
import { MAX_PIPELINE_INPUT_BYTES, PIPELINE_LIMITS, startBytes } from './limits';
import type { StepSpec } from './spec';
import { resolveTemplates, type TemplateContext } from './templates';

/** One step's predictions: how many (at most), and the bytes of their inputs when known before the run. */
function measureStep(
  step: StepSpec,
  inputs: Record<string, unknown>,
  budget: number,
): { runs: number; bytes: number } {
  const base: TemplateContext = { inputs, steps: {} };
  const known = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch {
      return undefined; // needs an earlier step's output: known only at run time
    }
  };
  const sizeOf = (ctx: TemplateContext) =>
    known(() => startBytes(resolveTemplates(step.input, ctx, 'input')));
  if (step.foreach !== undefined) {
    const items = known(() => resolveTemplates(step.foreach, base, 'foreach'));
    if (!Array.isArray(items)) return { runs: PIPELINE_LIMITS.maxForeachItems, bytes: 0 };
    let bytes = 0;
    const runs = Math.min(items.length, PIPELINE_LIMITS.maxForeachItems);
    for (let index = 0; index < runs && bytes <= budget; index++)
      bytes += sizeOf({ ...base, item: items[index], index }) ?? 0;
    return { runs, bytes };
  }
  const runs = step.count ?? 1;
  return { runs, bytes: runs * (sizeOf(base) ?? 0) };
}

/** Report (at `steps`) a pipeline over PIPELINE_LIMITS.maxRuns predictions or MAX_PIPELINE_INPUT_BYTES of input. */
export function checkPipelineSize(
  steps: Record<string, StepSpec>,
  inputs: unknown,
  err: (path: string, message: string) => void,
): void {
  const known = isPlainObject(inputs) ? inputs : {};
  let runs = 0;
  let bytes = 0;
  let widest = { name: '', runs: 0 };
  for (const [name, step] of Object.entries(steps)) {
    const m = measureStep(step, known, MAX_PIPELINE_INPUT_BYTES - bytes);
    runs += m.runs;
    bytes += m.bytes;
    if (m.runs > widest.runs) widest = { name, runs: m.runs };
  }
  const count = Object.keys(steps).length;
  if (runs > PIPELINE_LIMITS.maxRuns) {
    err(
      'steps',
      `the pipeline runs up to ${runs} predictions (${count} steps, the largest ${widest.name} with ${widest.runs}; a foreach over an earlier step's output counts as ${PIPELINE_LIMITS.maxForeachItems}); at most ${PIPELINE_LIMITS.maxRuns} run in one pipeline (each is a child workflow: Temporal allows 2,000 pending, and the pipeline's history holds them all); split it into several pipelines`,
    );
  }
  if (bytes > MAX_PIPELINE_INPUT_BYTES) {
    err(
      'steps',
      `the predictions' inputs are over ${bytes} bytes of JSON together, over the ${MAX_PIPELINE_INPUT_BYTES}-byte limit of one pipeline (its history holds every input, and Temporal caps it at 50 MB); pass large data as URLs`,
    );
  }
}
