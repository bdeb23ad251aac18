/**
 * Activities: every call to Replicate, one module per activity sharing one setup (./context.ts). Built by a
 * factory that receives the configuration, so the token stays in the worker process (never in workflow arguments
 * or results) and tests can point at the simulator. The keys of the returned object are the activity type names
 * recorded in workflow histories: never rename them.
 */
import type { JobKind, PredictionSnapshot } from '../shared/types';
import { ADOPTION_MAX_PAGES } from './adoption';
import { cancelJob } from './cancel';
import { activitySetup, type ActivityConfig } from './context';
import {
  createPrediction,
  createTraining,
  type CreatePredictionArgs,
  type CreateTrainingArgs,
} from './create';
import { listRecentJobs, type JobSummary } from './list';
import { getJob } from './status';

export { ADOPTION_MAX_PAGES } from './adoption';
export { DEFAULT_HTTP_TIMEOUTS, type ActivityConfig } from './context';
export { MIN_CANCEL_AFTER_MS, type CreatePredictionArgs, type CreateTrainingArgs } from './create';
export { inputDigest, type JobSummary } from './list';
/** Trim Replicate's prediction object (see ./snapshot); the receiver and tests use it too. */
export { snapshot } from './snapshot';

export function createActivities(config: ActivityConfig) {
  const setup = activitySetup(config);
  return {
    /** Start a prediction asynchronously (no `Prefer: wait`) and return its first snapshot. */
    createPrediction: (args: CreatePredictionArgs): Promise<PredictionSnapshot> =>
      createPrediction(setup, args),
    /** Start a training of `owner/name:version` into `destination`. */
    createTraining: (args: CreateTrainingArgs): Promise<PredictionSnapshot> => createTraining(setup, args),
    /** Read a prediction's (or training's) current state. */
    getPrediction: (jobId: string, kind: JobKind = 'prediction'): Promise<PredictionSnapshot> =>
      getJob(setup, jobId, kind),
    /** Cancel a prediction (or training). Canceling one that already ended is harmless. */
    cancelPrediction: (jobId: string, kind: JobKind = 'prediction'): Promise<PredictionSnapshot> =>
      cancelJob(setup, jobId, kind),
    /** Predictions (or trainings) created since `since` (ISO 8601), newest first, at most `maxPages` pages. */
    listRecentJobs: (
      since: string,
      kind: JobKind = 'prediction',
      maxPages = ADOPTION_MAX_PAGES,
    ): Promise<JobSummary[]> => listRecentJobs(setup, since, kind, maxPages),
  };
}

export type Activities = ReturnType<typeof createActivities>;
