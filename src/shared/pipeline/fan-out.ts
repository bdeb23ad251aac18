/** The runs of one step (one, `count` identical ones, or one per `foreach` item) and what later steps see of them. */
import { describeType } from './helpers';
import { PIPELINE_LIMITS } from './limits';
import { PipelineSpecError, type PipelineSpec, type StepSpec } from './spec';
import { resolveTemplates, type StepResultView, type TemplateContext } from './templates';

/** True when the step runs several predictions (`count` or `foreach`): its `output` is then a list. */
export function isFannedOut(step: StepSpec): boolean {
  return step.count !== undefined || step.foreach !== undefined;
}

/**
 * Flatten per-prediction outputs into one list: a list output contributes its elements (one level), any other
 * output itself; null and undefined (at either level) are dropped.
 */
export function flattenOutputs(outputs: unknown[]): unknown[] {
  const flat: unknown[] = [];
  for (const o of outputs) {
    if (Array.isArray(o)) {
      for (const e of o) if (e !== null && e !== undefined) flat.push(e);
    } else if (o !== null && o !== undefined) {
      flat.push(o);
    }
  }
  return flat;
}

/**
 * What later steps see of a finished step, built from its runs in order (an addition, so the workflow and the
 * templates agree): fanned out, `output` is the list of outputs and `input` the first run's input; otherwise the
 * single run's output and input. Pass failed runs of a `continue` pipeline with output null (dropped from
 * `outputs`).
 */
export function stepResultView(
  step: StepSpec,
  runs: { input: Record<string, unknown>; output: unknown }[],
): StepResultView {
  const outputs = runs.map((r) => r.output);
  return {
    output: isFannedOut(step) ? outputs : outputs[0],
    outputs: flattenOutputs(outputs),
    input: runs[0]?.input ?? {},
  };
}

/**
 * The runs of one step with their resolved inputs: for `foreach`, one per item (with `item` and `index`); for
 * `count`, N identical ones; else one. Throws PipelineSpecError (path `steps.NAME.…`) when a template does not
 * resolve, `foreach` does not give a list, or the list has more than 100 items.
 */
export function expandStep(
  spec: PipelineSpec,
  name: string,
  ctx: TemplateContext,
): { index: number; item?: unknown; input: Record<string, unknown> }[] {
  const step = Object.hasOwn(spec.steps, name) ? spec.steps[name] : undefined;
  if (step === undefined)
    throw new PipelineSpecError([{ path: `steps.${name}`, message: `unknown step '${name}'` }]);
  const base: TemplateContext = { inputs: ctx.inputs, steps: ctx.steps };
  const inputPath = `steps.${name}.input`;
  const resolveInput = (c: TemplateContext): Record<string, unknown> =>
    resolveTemplates(step.input, c, inputPath) as Record<string, unknown>;

  if (step.foreach !== undefined) {
    const path = `steps.${name}.foreach`;
    const items = resolveTemplates(step.foreach, base, path);
    if (!Array.isArray(items)) {
      const message = `type mismatch: ${step.foreach.trim()} is ${describeType(items)}; foreach needs a list`;
      throw new PipelineSpecError([{ path, message }]);
    }
    if (items.length > PIPELINE_LIMITS.maxForeachItems) {
      const message = `${step.foreach.trim()} has ${items.length} items; foreach allows at most ${PIPELINE_LIMITS.maxForeachItems}`;
      throw new PipelineSpecError([{ path, message }]);
    }
    return items.map((item, index) => ({ index, item, input: resolveInput({ ...base, item, index }) }));
  }
  const n = step.count ?? 1;
  return Array.from({ length: n }, (_, index) => ({ index, input: resolveInput(base) }));
}
