/** The vocabulary shared by the client, the workflows and the activities. Plain data only. */
import type { PredictiveMemory } from './predictive-polling';
import type { ModelTiming } from './timing';

/** Replicate runs predictions and trainings with the same lifecycle and the same machinery here. */
export type JobKind = 'prediction' | 'training';

export type PredictionStatus = 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled' | 'aborted';

export const TERMINAL_STATUSES: readonly PredictionStatus[] = ['succeeded', 'failed', 'canceled', 'aborted'];

export function isTerminal(status: PredictionStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** Backoff between status polls. All optional; defaults in `DEFAULT_POLLING`. */
export interface PollingOptions {
  /** first wait after creation, ms (default 3000) */
  initialIntervalMs?: number;
  /** growth factor per poll (default 1.5) */
  multiplier?: number;
  /** cap on one wait, ms (default 30000) */
  maxIntervalMs?: number;
  /**
   * plan polls from the model's recent timing and the job's progress (default true; src/shared/predictive-polling.ts):
   * one poll just after the expected end, a short burst, then this backoff; false = this backoff only. Never with
   * webhooks (their fallback schedule is fixed).
   */
  predictive?: boolean;
}

/** Input of the `runPrediction` workflow. Never carries the API token: activities read it from the worker. */
export interface PredictionRequest {
  /** `owner/name`, `owner/name:version`, a bare 64-hex version id, or a deployment `owner/name` */
  model: string;
  /** true when `model` names a deployment */
  deployment?: boolean;
  /** the model's input object */
  input: Record<string, unknown>;
  polling?: PollingOptions;
  /** how long before the workflow's execution timeout the run gives up and cancels remotely, ms (default 15000) */
  deadlineMarginMs?: number;
  /**
   * upsert the Replicate* search attributes (default true); false only for servers where they cannot be
   * registered, such as Temporal's time-skipping test server
   */
  searchAttributes?: boolean;
  /** continue-as-new after this many polls in one run, to keep histories small (default 500) */
  maxPollsPerRun?: number;
  /**
   * after a create attempt that may have committed without an answer, look for and cancel a late commit of it for
   * this long after the last such attempt, ms (default 180 000: 3 minutes; 30 s to 1 h)
   */
  lateCommitWindowMs?: number;
  /**
   * cancel the job and fail with BudgetExceeded once price × (now − started_at) reaches this, USD;
   * needs `pricePerSecondUsd` (src/shared/budget.ts)
   */
  maxCostUsd?: number;
  /** the model's price, USD per second of predict_time; only with `maxCostUsd` */
  pricePerSecondUsd?: number;
  /** set by runPipeline when it has a budget: tell the parent when the job starts (its started_at) */
  reportStartToParent?: boolean;
  /**
   * at most this many of the runs of this model (or deployment) that ask for the same number at Replicate at once,
   * across the fleet: the run waits for a slot before its create. It only delays this run: the worker's
   * REPLICATE_MODEL_CONCURRENCY, when it limits the model, holds as well and is never changed by it.
   */
  concurrencyLimit?: number;
  /**
   * keep the output files in the worker's output store (like a pipeline step's: allowed origins, sha256, a
   * manifest) and name them in the result: true, false, or unset = when the worker has an output store configured
   * (the worker's own does by default). A pipeline's children get false: the pipeline keeps its steps' files.
   */
  persist?: boolean;
  /**
   * reuse an earlier succeeded, kept result of the same request (model, input) instead of creating a prediction
   * (the result cache; default false: a generator is usually asked for a new sample)
   */
  cache?: boolean;
  /** set by the workflow itself when it continues as new; never pass it */
  resume?: ResumeState;
}

/** Input of the `runTraining` workflow: trains `model` (owner/name:version) into `destination`. */
export interface TrainingRequest extends Omit<PredictionRequest, 'deployment'> {
  destination: string;
}

/**
 * What a run hands to its continuation (continue-as-new): everything about the job it follows that a new run could
 * not learn again. One typed object, restored whole by `restoreRun` and checked field by field by a round-trip test.
 */
export interface ResumeState {
  job: PredictionSnapshot;
  polls: number;
  /** when the first run of the chain started (ISO 8601) */
  startedAt: string;
  runs: number;
  /** the job was adopted (an earlier create attempt made it and its answer was lost) */
  adopted: boolean;
  /** the create asked for webhooks: keep the fallback polling schedule */
  webhook: boolean;
  /** webhook news about the job not yet acted on */
  news: PredictionSnapshot | null;
  /** the next poll waits at least this long (a failed poll's Retry-After), ms */
  nextPollAtLeastMs: number;
  /** a webhook said the job ended but its output was too large to signal: poll at once */
  pollNow: boolean;
  /** why the last poll failed (the run keeps polling), or null */
  pollError: string | null;
  /** the job's start was reported to the pipeline's budget already */
  startReported: boolean;
  /** the concurrency slot this run holds: the last run of the chain releases it */
  slot: { key: string; limit: number | null; ownLimit?: number } | null;
  /** the reads queue the create named: polls and cancels keep going there */
  readsTaskQueue: string | null;
  /** the create said: poll locally first, on the reads queue only past the worker's share (src/worker/read-share.ts) */
  localReads: boolean;
  /** predictive polling: the model's timing from the create, the job's progress, the polls past its expected end */
  predictive: PredictiveMemory;
}

export interface PredictionMetrics {
  predict_time?: number;
  total_time?: number;
}

/** The subset of Replicate's prediction object that we read. Real responses are sparse: most keys are optional. */
export interface Prediction {
  id: string;
  model?: string;
  version?: string;
  input?: Record<string, unknown>;
  output?: unknown;
  error?: unknown;
  logs?: string | null;
  status: PredictionStatus;
  created_at?: string;
  started_at?: string | null;
  completed_at?: string | null;
  metrics?: PredictionMetrics;
  urls?: { get?: string; cancel?: string; web?: string; stream?: string };
  deadline?: string | null;
  deployment?: string | null;
  data_removed?: boolean;
  webhook?: string | null;
}

/** What an activity hands to the workflow: the prediction, trimmed so the history stays small. */
export interface PredictionSnapshot {
  id: string;
  model: string | null;
  version: string | null;
  status: PredictionStatus;
  output: unknown;
  error: string | null;
  /** the last lines of `logs` (at most 20) */
  logsTail: string[];
  metrics: PredictionMetrics;
  createdAt: string | null;
  startedAt: string | null;
  completedAt: string | null;
  deadline: string | null;
  urls: { get?: string; cancel?: string; web?: string };
  /** set by a retried create that found and adopted the prediction a lost attempt had made */
  adopted?: boolean;
  /** Replicate already deleted the output (API data is kept about an hour) */
  dataRemoved?: boolean;
  /** the create asked Replicate to send webhooks for this job */
  webhook?: boolean;
  /** (webhook news) the output was too large to carry in a signal: the workflow reads it with a GET */
  outputOmitted?: boolean;
  /** (a create's answer) the fleet's rate-limited reads queue: the run polls and cancels there (src/worker/flow-control.ts) */
  readsTaskQueue?: string;
  /** (a create's answer, with readsTaskQueue) poll locally first, within the worker's share of the reads budget */
  localReads?: boolean;
  /** (a create's answer, polling only) the model's recent timing as the workers know it (src/shared/timing.ts) */
  timing?: ModelTiming;
}

/** Result of a successful `runPrediction`. */
export interface PredictionResult {
  id: string;
  model: string | null;
  version: string | null;
  status: 'succeeded';
  output: unknown;
  metrics: PredictionMetrics;
  createdAt: string | null;
  startedAt: string | null;
  completedAt: string | null;
  urls: { get?: string; cancel?: string; web?: string };
  polls: number;
  /** true when a retried create adopted the prediction a lost attempt had made (no duplicate was created) */
  adopted: boolean;
  /**
   * the output files kept in the worker's output store (`persist`), next to Replicate's URLs in `output` (which
   * Replicate deletes after about an hour)
   */
  files?: KeptFile[];
  /** the kept files' manifest: an absolute path or an s3:// URL */
  manifest?: string;
  /** why the output files could not be kept (the prediction itself succeeded) */
  keepError?: string;
  /** served by the result cache (`cache: true`): no prediction was created, nothing paid; the run that made it */
  cached?: { workflowId: string; predictionId: string | null };
}

/** An output file kept in the output store (a manifest entry). */
export interface KeptFile {
  /** Replicate's URL it was copied from (a data: URL's first characters) */
  sourceUrl: string;
  /** its path in the run's (or pipeline's) folder of the store */
  path: string;
  /** the object key in the bucket, or the path in OUTPUT_DIR */
  key?: string;
  /** `s3://bucket/key`, or the absolute path */
  url?: string;
  bytes: number;
  sha256: string;
  /** the type it is stored as: its declared type when inert (images, audio, video, JSON, text), else application/octet-stream */
  contentType: string | null;
}

/** Live state answered by the `status` query. */
export interface PredictionState {
  kind: JobKind;
  model: string;
  predictionId: string | null;
  /** last status seen at Replicate, or `creating` before the create call returned */
  status: PredictionStatus | 'creating';
  polls: number;
  nextPollAt: string | null;
  /** when the workflow started, and when it reached a terminal state */
  startedAt: string;
  completedAt: string | null;
  deadline: string;
  logsTail: string[];
  error: string | null;
  /** why the last poll failed, while the run keeps polling (an outage); null after a successful poll */
  pollError?: string | null;
  webUrl: string | null;
  /** how many runs (continue-as-new) this job has spanned so far */
  runs: number;
  /** with `maxCostUsd`: the budget, the price and the job's start (src/shared/budget.ts `jobCost`) */
  budget?: JobBudgetView;
  /**
   * waiting for a concurrency slot of `key` (status still `creating`): position 1 = next;
   * null until the limiter answered. Exact up to 10, further back updated when it has halved. Unset otherwise.
   */
  queue?: { key: string; position: number | null; limit: number } | null;
}

/** A run's budget as the `status` query shows it; the running cost follows from it at any instant (`jobCost`). */
export interface JobBudgetView {
  maxCostUsd: number;
  pricePerSecondUsd: number;
  /** Replicate's started_at of the job, null before it started */
  jobStartedAt: string | null;
  /** predict_time once the job has ended (its billed cost), else null */
  predictTime: number | null;
}

/** Details attached to the typed failures of a run (first element of ApplicationFailure.details). */
export interface PredictionFailureDetails {
  predictionId: string | null;
  status: PredictionStatus | 'creating';
  error: string | null;
  logsTail: string[];
  metrics?: PredictionMetrics;
}
