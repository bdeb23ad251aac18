// The workflows this worker runs. Only deterministic code may be reached from here.
export { runPrediction, runTraining, statusQuery, webhookSignal } from './prediction';
export { reconcileOrphans } from './reconcile';
export { runPipeline, progressQuery } from './pipeline';
