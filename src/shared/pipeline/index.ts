/**
 * Pipelines: Replicate models chained into a DAG of steps wired by `{{ … }}` templates. Pure (imported by the
 * `runPipeline` workflow and the CLI); one concept per module: spec, validate/check-*, templates, graph, fan-out,
 * cost, progress, limits; step kinds in ./kinds/ (the interface: ./step-kind.ts). Reading a spec file: src/client/pipeline-file.ts.
 */
export { estimateCost } from './cost';
export { expandStep, flattenOutputs, isFannedOut, stepResultView } from './fan-out';
export { stepDependencies, topologicalOrder } from './graph';
export {
  MAX_PIPELINE_INPUT_BYTES,
  MAX_START_BYTES,
  MAX_STEP_INPUT_BYTES,
  PERSIST_ACTIVITY,
  PIPELINE_LIMITS,
  pipelineTimeoutMs,
  startBytes,
  stepInputProblem,
  stepTimeoutMs,
} from './limits';
export { progressSnapshot } from './progress';
export { checkBudget, checkPrices } from './prices';
export {
  PipelineSpecError,
  type ApprovalSpec,
  type PipelineSpec,
  type SpecError,
  type StepSpec,
} from './spec';
export { resolveTemplates, type StepResultView, type TemplateContext } from './templates';
export { validatePipelineSpec } from './validate';
export { kindOf, STEP_KINDS } from './kinds';
export { ApprovalRejected, DEFAULT_APPROVAL_TIMEOUT } from './kinds/approve';
export type {
  Decision,
  RunOutcome,
  RunRequest,
  RunResult,
  StepKind,
  StepRunInput,
  StepRuntime,
} from './step-kind';
