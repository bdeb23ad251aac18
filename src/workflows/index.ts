// `replicate-temporal/workflows`: the workflows, their queries and signals. Deterministic code only below this
// file: safe to import from your own workflow code and to bundle with your worker's workflows.
export { runPrediction, runTraining, statusQuery, webhookSignal } from './prediction';
export { reconcileOrphans, type OrphanReport, type ReconcileOptions } from './reconcile';
export { replicateClaim, type JobClaim } from './claim';
export { watchLateCommits, type LateCommitReport, type LateCommitWatch } from './late-commits';
export {
  runPipeline,
  progressQuery,
  approveStepUpdate,
  type ApproveStepArgs,
  type PipelineRequest,
  type PipelineResult,
} from './pipeline';
export {
  replicateSlots,
  slotAcquireUpdate,
  slotReleaseUpdate,
  slotUpdateSignal,
  slotsQuery,
  type SlotsArgs,
  type SlotsOptions,
} from './slots';
export type {
  PredictionRequest,
  PredictionResult,
  PredictionSnapshot,
  PredictionState,
  TrainingRequest,
} from '../shared/types';
