/**
 * `replicate-temporal/client`: typed helpers over a Temporal `Client` to start, run, watch and cancel a
 * prediction or a pipeline. Flat functions: each takes the client (or a handle) first.
 *
 *   const handle = await startPrediction(client, { model: 'owner/name', input }, { taskQueue: 'replicate' });
 *   for await (const state of watchPrediction(handle)) console.log(state.status);
 *   const { status, output } = await predictionOutcome(handle);
 */
export {
  cancelPrediction,
  detailsOf,
  predict,
  startPrediction,
  watchPrediction,
  type PredictionHandle,
  type StartPredictionOptions,
} from './prediction';
export { predictionOutcome, type OutcomeOptions, type RunSummary } from './outcome';
export { predictionState } from './state';
export {
  cancelPipeline,
  pipelineOutcome,
  pipelineProgress,
  startPipeline,
  watchPipeline,
  type PipelineHandle,
  type PipelineSummary,
  type StartPipelineOptions,
} from './pipeline';
export { rerunPipeline, type RerunOptions } from './rerun';
export { approveStep } from './approve';
export { registerSearchAttributes } from './search-attributes';
export { ceilingMs, CEILING_RANGE_MS } from './options';
export type { WatchOptions } from './watch';
// ENCRYPTION_KEY: the Client (and your Worker) take `dataConverter: createDataConverter({ keys })` (docs/encryption.md)
export { createDataConverter, type DataConverterOptions } from '../encryption/data-converter';
export type { EncryptionKeys } from '../encryption/keys';
export type { PredictionRequest, PredictionState } from '../shared/types';
export type { ApproveStepArgs, PipelineResult } from '../workflows/pipeline';
export type { Decision } from '../shared/pipeline';
export type { ClaimStore } from '../activities/claims';
