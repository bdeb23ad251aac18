/**
 * Activities (`replicate-temporal/activities`): every call to Replicate, one module per activity sharing one setup
 * (./context.ts), plus the pipelines' output activities (./outputs.ts). Built by a factory that receives the
 * configuration, so the token stays in the worker process (never in workflow arguments or results) and tests can
 * point at the simulator. The keys of the returned object are the activity type names recorded in workflow
 * histories: never rename them.
 */
import type { JobKind, PredictionSnapshot } from '../shared/types';
import { assertWebhookBaseUrl } from '../shared/webhook-url';
import { fileClaimStore, storeClaimStore } from './claims';
import { ADOPTION_MAX_PAGES, findOwnJobs, type FindOwnJobsArgs } from './adoption';
import { cancelJob } from './cancel';
import { activitySetup, type ActivityConfig } from './context';
import {
  createPrediction,
  createTraining,
  type CreatePredictionArgs,
  type CreateTrainingArgs,
} from './create';
import { listRecentJobs, type JobSummary } from './list';
import { createOutputActivities, outputStore, type OutputConfig, type OutputStore } from './outputs';
import { stageInputFiles, type StageArgs, type StagedInput } from './stage-inputs';
import { getJob } from './status';
import { slotNeededFor } from './slots';
import { versionModelLookup } from './version-models';
import type { SlotNeeded } from '../shared/slots';

export { ADOPTION_MAX_PAGES, type FindOwnJobsArgs } from './adoption';
export { DEFAULT_HTTP_TIMEOUTS, type ActivityConfig, type ReadGrant, type ReadShare } from './context';
export { MIN_CANCEL_AFTER_MS } from '../shared/ceiling';
export { type CreatePredictionArgs, type CreateTrainingArgs } from './create';
export { inputDigest, type JobSummary } from './list';
export { MAX_DATA_URL_FILE_BYTES, MAX_UPLOAD_BYTES, type StageArgs, type StagedInput } from './stage-inputs';
/** Trim Replicate's prediction object (see ./snapshot); the receiver and tests use it too. */
export { snapshot } from './snapshot';

export {
  createOutputActivities,
  localOutputStore,
  outputStore,
  parseOutputUrl,
  s3OutputStore,
  type OutputConfig,
  type OutputStore,
} from './outputs';
export { createReconcileActivities, type ReconcileActivities } from './reconcile';
export { createSlotActivities, type SlotActivities } from './slots';
export {
  claimKey,
  ClaimResolutionError,
  fileClaimStore,
  readOutputClaim,
  resolveClaims,
  resolveReportOutputs,
  signClaim,
  storeClaimStore,
  type ClaimKey,
  type ClaimStore,
  type ResolveClaimsOptions,
} from './claims';

export interface ActivitiesOptions extends ActivityConfig {
  /**
   * where outputs live (pipelines' files and manifests, claim checks in `.claims/`): a folder (`'outputs'`), an S3
   * bucket (`'s3://bucket/prefix'`, the client from the standard AWS environment) or an OutputStore; default outputDir
   */
  outputStore?: string | OutputStore;
  /** the folder outputs go to when `outputStore` is not given (default `outputs`) */
  outputDir?: string;
  /** origins output files may be fetched from besides Replicate's delivery hosts and the API's own origin */
  outputAllowedOrigins?: string[];
  /** other settings of output persistence (file size limit, timeouts) */
  outputs?: Partial<Omit<OutputConfig, 'store' | 'outputDir' | 'allowedOrigins' | 'claims'>>;
  /**
   * per-model concurrency across the fleet (REPLICATE_MODEL_CONCURRENCY): key (`owner/name`,
   * `deployments/owner/name`) -> at most this many running at once; also register createSlotActivities
   */
  modelConcurrency?: Record<string, number>;
}

/**
 * Every activity that runPrediction, runTraining and runPipeline need: spread the result into your worker's
 * `activities`. (The orphan reconciler's also need a Temporal client: createReconcileActivities.)
 */
export function createActivities(config: ActivitiesOptions) {
  if (config.webhookBaseUrl)
    assertWebhookBaseUrl(config.webhookBaseUrl, 'createActivities({ webhookBaseUrl })');
  const store = outputStore(config.outputStore ?? config.outputDir ?? 'outputs');
  // One claim store for the activities that store large outputs and the persistence that reads them back.
  const claims =
    typeof config.claims === 'object'
      ? config.claims
      : config.claims !== undefined
        ? fileClaimStore(config.claims)
        : storeClaimStore(store);
  const setup = activitySetup({ ...config, claims });
  const apiOrigin = config.baseUrl ? [new URL(config.baseUrl).origin] : [];
  const versionModels = versionModelLookup(setup);
  return {
    ...createOutputActivities({
      ...config.outputs,
      store,
      // single runs keep their files where a store was configured (the worker's always is: OUTPUT_DIR's default)
      keepRunOutputs: config.outputStore !== undefined || config.outputDir !== undefined,
      allowedOrigins: [...apiOrigin, ...(config.outputAllowedOrigins ?? [])],
      claims,
      claimKey: setup.claimKey,
    }),
    /**
     * Start a prediction asynchronously (no `Prefer: wait`) and return its first snapshot; with `checkConcurrency`,
     * a model this worker limits (in any form: a bare version id is looked up), or a request with its own
     * `concurrencyLimit`, answers `{ slotNeeded }` instead (nothing created: the run waits for a slot).
     */
    createPrediction: async (args: CreatePredictionArgs): Promise<PredictionSnapshot | SlotNeeded> => {
      if (args.checkConcurrency) {
        const needed = await slotNeededFor(
          config.modelConcurrency,
          args.model,
          args.deployment,
          args.concurrencyLimit,
          versionModels,
        );
        if (needed) return needed;
      }
      return createPrediction(setup, args);
    },
    /**
     * Give a pipeline step's input the earlier outputs it takes as URLs that still work (data: URLs, Replicate
     * file uploads, presigned S3 URLs), from the persisted copies (./stage-inputs.ts).
     */
    stageInputFiles: (args: StageArgs): Promise<StagedInput> => stageInputFiles(setup, store, args),
    /** Start a training of `owner/name:version` into `destination`. */
    createTraining: (args: CreateTrainingArgs): Promise<PredictionSnapshot> => createTraining(setup, args),
    /**
     * After a create attempt that may have committed without an answer: the jobs it may have made, best first
     * (candidates only: the workflow takes one by winning its claim).
     */
    findOwnJobs: (args: FindOwnJobsArgs): Promise<PredictionSnapshot[]> => findOwnJobs(setup, args),
    /** Read a prediction's (or training's) current state. */
    getPrediction: (jobId: string, kind: JobKind = 'prediction'): Promise<PredictionSnapshot> =>
      getJob(setup, jobId, kind),
    /**
     * A poll within this worker's share of the fleet's reads budget (a local activity): the job's state when the
     * share allows a read now (or `reserved`: it counted this read already); else, without a request, how long to
     * wait (then ask again, or read at once if `reserved`), or null: poll on the rate-limited reads queue.
     */
    tryGetPrediction: async (
      jobId: string,
      kind: JobKind = 'prediction',
      reserved = false,
    ): Promise<PredictionSnapshot | { waitMs: number; reserved: boolean } | null> => {
      const grant = reserved
        ? { now: true as const }
        : (config.readShare?.grant() ?? { queue: true as const });
      if ('now' in grant) return getJob(setup, jobId, kind);
      return 'queue' in grant ? null : grant;
    },
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
