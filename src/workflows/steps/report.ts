/** The pipeline's report (the result, the `progress` query's answer and the failure details) and its cost. */
import type { ManifestEntry } from '../../activities/outputs';
import type { PipelineBudgetView } from '../../shared/budget';
import { kindOf, type Decision, type PipelineSpec } from '../../shared/pipeline';

/** `waiting`: an approval step waits for a person's decision (`pipeline approve`). */
export type StepStatus = 'pending' | 'running' | 'waiting' | 'succeeded' | 'failed' | 'canceled' | 'skipped';

/** A run served by an earlier result instead of running (no prediction created, $0): from where. */
export interface ReusedRun {
  /** its fan-out index */
  index: number;
  /** `rerun`: the earlier run of a `pipeline rerun`; `cache`: the result cache */
  how: 'rerun' | 'cache';
  /** the pipeline (or single run's workflow) and step that made it, and its prediction */
  pipelineId: string;
  step: string;
  predictionId: string | null;
}

/** An approval step: what is asked, until when, and what was decided. */
export interface ApprovalProgress {
  message: string;
  /** when it started waiting, and when `onTimeout` decides (ISO 8601) */
  waitingSince: string;
  deadline: string;
  onTimeout: 'reject' | 'approve';
  decision: Decision | null;
}

export interface StepProgress {
  /** the step's kind: `prediction` or `approve` */
  kind: string;
  status: StepStatus;
  /** how many runs the step has (one, `count`, or one per `foreach` item); 0 until it starts */
  runs: number;
  /** the predictions that succeeded, in fan-out order (the order of `outputs` and `files`) */
  predictionIds: string[];
  /** predictions of this step that failed or were canceled (their predict_time is in the cost) */
  failedPredictionIds?: string[];
  childWorkflowIds: string[];
  /** (read by the client, not the workflow) the step's runs waiting for a concurrency slot: `queued: position …` */
  queued?: string[];
  startedAt: string | null;
  completedAt: string | null;
  elapsedMs: number | null;
  outputs: unknown[];
  files: string[];
  predictTime: number;
  error: string | null;
  /** the runs an earlier result served (a rerun's, or the result cache's) */
  reused?: ReusedRun[];
  /** an approval step's question and decision */
  approval?: ApprovalProgress;
}

export interface PipelineCost {
  /** seconds of predict_time (Replicate's billing basis) per step and in total */
  predictTime: Record<string, number>;
  totalPredictTime: number;
  /** USD estimate from `spec.prices`, null when a used model has no price */
  estimatedUsd: number | null;
  /**
   * (with `budget`) the budget; what ran to completion and what was canceled (USD); the jobs running
   * now with their started_at (live cost: `pipelineSpend` of src/shared/budget.ts); the crossing, if reached
   */
  budget?: PipelineBudgetView;
}

export interface PipelineResult {
  pipelineId: string;
  name: string;
  status: 'succeeded' | 'failed';
  steps: Record<string, StepProgress>;
  manifest: { path: string | null; files: ManifestEntry[] };
  cost: PipelineCost;
}

/** The report of a pipeline that has not started any step yet. */
export function emptyReport(pipelineId: string, spec: PipelineSpec): PipelineResult {
  return {
    pipelineId,
    name: spec.name,
    status: 'succeeded',
    steps: Object.fromEntries(
      Object.entries(spec.steps).map(([name, step]) => [name, emptyProgress(kindOf(step).name)]),
    ),
    manifest: { path: null, files: [] },
    cost: { predictTime: {}, totalPredictTime: 0, estimatedUsd: 0 },
  };
}

/** Add `seconds` of predict_time of step `step` to its and the pipeline's cost (USD null once a price is missing). */
export function addCost(result: PipelineResult, spec: PipelineSpec, step: string, seconds: number): void {
  result.cost.predictTime[step] = round((result.cost.predictTime[step] ?? 0) + seconds);
  result.cost.totalPredictTime = round(result.cost.totalPredictTime + seconds);
  const usd = kindOf(spec.steps[step]!).cost(spec, spec.steps[step]!, seconds);
  result.cost.estimatedUsd =
    usd === undefined || result.cost.estimatedUsd === null ? null : round(result.cost.estimatedUsd + usd, 6);
}

/** Record the files one prediction's output was persisted to, in the manifest and in its step's progress. */
export function addFiles(result: PipelineResult, progress: StepProgress, entries: ManifestEntry[]): void {
  result.manifest.files.push(...entries);
  progress.files.push(...entries.map((e) => e.path));
}

/** Close a step's timing: its end, and how long it ran (null when it never started). */
export function markCompleted(progress: StepProgress): void {
  progress.completedAt = new Date().toISOString();
  progress.elapsedMs = progress.startedAt
    ? Date.parse(progress.completedAt) - Date.parse(progress.startedAt)
    : null;
}

export function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function emptyProgress(kind: string): StepProgress {
  return {
    kind,
    status: 'pending',
    runs: 0,
    predictionIds: [],
    childWorkflowIds: [],
    startedAt: null,
    completedAt: null,
    elapsedMs: null,
    outputs: [],
    files: [],
    predictTime: 0,
    error: null,
  };
}
