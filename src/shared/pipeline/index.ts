/**
 * Pipelines: Replicate models chained into a DAG of steps, wired together with `{{ … }}` templates. Pure (no Node
 * built-ins, no I/O, no clocks or randomness): imported by the deterministic `runPipeline` workflow as well as by
 * the CLI. Reading a spec file lives in `src/pipeline-file.ts`. One concept per module:
 *
 * - spec.ts: the types of a validated spec, its defaults, `PipelineSpecError`
 * - validate.ts, check-step.ts, check-templates.ts: validation of a parsed spec
 * - templates.ts: the `{{ … }}` syntax, parsed and resolved
 * - graph.ts: dependencies between steps, execution order, cycles
 * - fan-out.ts: a step's runs (`count`, `foreach`) and what later steps see of them
 * - cost.ts, progress.ts, limits.ts: cost estimates, the `progress` query's answer, sizes and timeouts
 */
export { estimateCost } from './cost';
export { expandStep, flattenOutputs, isFannedOut, stepResultView } from './fan-out';
export { stepDependencies, topologicalOrder } from './graph';
export {
  PERSIST_ACTIVITY,
  PIPELINE_LIMITS,
  pipelineTimeoutMs,
  stepInputProblem,
  stepTimeoutMs,
} from './limits';
export { progressSnapshot } from './progress';
export { PipelineSpecError, type PipelineSpec, type SpecError, type StepSpec } from './spec';
export { resolveTemplates, type StepResultView, type TemplateContext } from './templates';
export { validatePipelineSpec } from './validate';
