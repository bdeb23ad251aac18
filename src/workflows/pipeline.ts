/**
 * `runPipeline`: a DAG of steps, each step one or more child `runPrediction` workflows (fan-out by `count` or
 * `foreach`), outputs persisted to disk as soon as a step succeeds, a manifest and a cost summary at the end.
 * Independent steps run in parallel; a step starts when the steps it references have succeeded.
 *
 * Failure policy: `fail-fast` cancels the running steps (their children cancel their predictions at Replicate)
 * and skips the rest; `continue` lets independent steps finish and skips only the dependents of a failed step.
 * Either way a failed pipeline fails with `PipelineFailed`, carrying the full report in its details.
 */
import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  defineQuery,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { ManifestEntry, OutputActivities } from '../activities/outputs';
import { parseDuration } from '../shared/duration';
import { PipelineFailureType } from '../shared/failures';
import {
  estimateCost,
  expandStep,
  flattenOutputs,
  PERSIST_ACTIVITY,
  PIPELINE_LIMITS,
  progressSnapshot,
  stepDependencies,
  stepInputProblem,
  topologicalOrder,
  validatePipelineSpec,
  type PipelineSpec,
  type StepResultView,
} from '../shared/pipeline';
import { workflowIdProblem } from '../shared/ids';
import { ReplicatePipelineId } from '../shared/search-attributes';
import type { PredictionFailureDetails, PredictionResult } from '../shared/types';
import { runPrediction } from './prediction';

export interface PipelineRequest {
  /** the spec as parsed from YAML/JSON (validated again here) */
  spec: unknown;
  /** `--input KEY=VALUE` overrides of `spec.inputs` */
  inputs?: Record<string, unknown>;
  /** download outputs and write a manifest (default true) */
  persist?: boolean;
}

export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'canceled' | 'skipped';

export interface StepProgress {
  status: StepStatus;
  /** the predictions that succeeded, in fan-out order (the order of `outputs` and `files`) */
  predictionIds: string[];
  /** predictions of this step that failed or were canceled (their predict_time is in the cost) */
  failedPredictionIds?: string[];
  childWorkflowIds: string[];
  startedAt: string | null;
  completedAt: string | null;
  elapsedMs: number | null;
  outputs: unknown[];
  files: string[];
  predictTime: number;
  error: string | null;
}

export interface PipelineCost {
  /** seconds of predict_time (Replicate's billing basis) per step and in total */
  predictTime: Record<string, number>;
  totalPredictTime: number;
  /** USD estimate from `spec.prices`, null when a used model has no price */
  estimatedUsd: number | null;
}

export interface PipelineResult {
  pipelineId: string;
  name: string;
  status: 'succeeded' | 'failed';
  steps: Record<string, StepProgress>;
  manifest: { path: string | null; files: ManifestEntry[] };
  cost: PipelineCost;
}

export const progressQuery = defineQuery<PipelineResult>('progress');

const persistOptions: ActivityOptions = {
  startToCloseTimeout: '30m',
  // the activity heartbeats every 5 s (also while a download waits); its own idle timeout ends stalled downloads
  heartbeatTimeout: PERSIST_ACTIVITY.heartbeatTimeoutMs,
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [PipelineFailureType.OutputUnavailable, PipelineFailureType.OutputTooLarge],
  },
};
const { persistOutputs, writeManifest } = proxyActivities<OutputActivities>(persistOptions);

/** Patch ids: runs started before these changes replay with the old behaviour. */
export const PIPELINE_PATCHES = {
  /** fan-out: keep (and persist) the predictions that succeeded when a sibling fails; cost counts failed ones */
  keepSiblings: 'pipeline-keep-siblings-v1',
  /**
   * fail at once what Temporal would refuse on every workflow task until the timeout: a step whose resolved input
   * is over the payload limit, a pipeline id whose child ids would be over the id limit
   */
  stepChecks: 'pipeline-step-checks-v1',
} as const;

export async function runPipeline(request: PipelineRequest): Promise<PipelineResult> {
  const checked = validatePipelineSpec(request.spec, request.inputs);
  if ('errors' in checked) {
    throw ApplicationFailure.create({
      type: PipelineFailureType.InvalidSpec,
      message: `invalid pipeline spec: ${checked.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
      nonRetryable: true,
      details: [checked.errors],
    });
  }
  const spec = checked.spec;
  const info = workflowInfo();
  const pipelineId = info.workflowId;
  if (patched(PIPELINE_PATCHES.stepChecks)) {
    const problem = childIdProblem(pipelineId, spec);
    if (problem) {
      throw ApplicationFailure.create({
        type: PipelineFailureType.InvalidSpec,
        message: problem,
        nonRetryable: true,
      });
    }
  }
  const persist = request.persist !== false;
  const ceiling =
    info.executionExpirationTime?.getTime() ?? info.startTime.getTime() + durationMs(spec.timeout, '30m');

  const result: PipelineResult = {
    pipelineId,
    name: spec.name,
    status: 'succeeded',
    steps: Object.fromEntries(Object.keys(spec.steps).map((name) => [name, emptyProgress()])),
    manifest: { path: null, files: [] },
    cost: { predictTime: {}, totalPredictTime: 0, estimatedUsd: 0 },
  };
  setHandler(progressQuery, () => progressSnapshot(result, Date.now()));

  const deps = stepDependencies(spec);
  const views: Record<string, StepResultView> = {};
  const done: Record<string, Promise<boolean>> = {};
  const running = new CancellationScope();
  let failFastTriggered = false;
  const triggerFailFast = (): void => {
    if (failFastTriggered) return;
    failFastTriggered = true;
    running.cancel(); // cancels every running step's children (and so their predictions)
  };

  const runStep = async (name: string): Promise<boolean> => {
    const ok = await Promise.all((deps[name] ?? []).map((d) => done[d]!));
    const progress = result.steps[name]!;
    if (ok.some((x) => !x) || failFastTriggered) {
      progress.status = 'skipped';
      progress.error = failFastTriggered
        ? 'skipped: another step failed (fail-fast)'
        : `skipped: ${(deps[name] ?? []).filter((_d, i) => !ok[i]).join(', ')} failed`;
      return false;
    }
    progress.status = 'running';
    progress.startedAt = new Date().toISOString();
    try {
      const step = spec.steps[name]!;
      const runs = expandStep(spec, name, { inputs: spec.inputs, steps: views });
      if (patched(PIPELINE_PATCHES.stepChecks)) {
        const problem = stepInputProblem(name, runs);
        if (problem) throw ApplicationFailure.nonRetryable(problem, PipelineFailureType.InvalidSpec);
      }
      const remaining = ceiling - Date.now() - 5_000;
      const timeout = Math.min(durationMs(step.timeout ?? spec.stepTimeout, '10m'), remaining);
      const fannedOut = runs.length > 1 || step.count !== undefined || step.foreach !== undefined;
      const model = step.model ?? step.deployment!;
      const runChild = async (r: (typeof runs)[number]): Promise<PredictionResult> => {
        const childId = `${pipelineId}--${name}${fannedOut ? `-${r.index}` : ''}`;
        progress.childWorkflowIds.push(childId);
        const child = await startChild(runPrediction, {
          workflowId: childId,
          args: [
            {
              model,
              deployment: step.deployment !== undefined,
              input: r.input,
              polling: step.polling,
            },
          ],
          workflowExecutionTimeout: timeout,
          // A closed parent asks its children to cancel, so they cancel their predictions remotely.
          parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
          staticSummary: `${name}${runs.length > 1 ? ` [${r.index}]` : ''}: ${step.model ?? step.deployment}`,
          typedSearchAttributes: [{ key: ReplicatePipelineId, value: pipelineId }],
        });
        const res = await child.result();
        progress.predictionIds.push(res.id);
        return res;
      };

      if (!patched(PIPELINE_PATCHES.keepSiblings)) {
        // Before the patch: the first failed child failed the step and its siblings' results were dropped.
        const results = await Promise.all(runs.map(runChild));
        const outputs = results.map((r) => r.output);
        views[name] = {
          output: fannedOut ? outputs : outputs[0],
          outputs: flattenOutputs(outputs),
          input: runs[0]?.input ?? {},
        };
        progress.outputs = views[name]!.outputs;
        progress.predictTime = results.reduce((sum, r) => sum + (r.metrics.predict_time ?? 0), 0);
        for (const r of results) addCost(result, spec, name, model, r.metrics.predict_time ?? 0);
        if (persist) {
          for (const [index, r] of results.entries()) {
            const entries = await persistOutputs({
              pipelineId,
              step: name,
              index,
              predictionId: r.id,
              output: r.output,
            });
            result.manifest.files.push(...entries);
            progress.files.push(...entries.map((e) => e.path));
          }
        }
        progress.status = 'succeeded';
        return true;
      }

      // Every child runs to its end; a failure under fail-fast cancels the others at once.
      type Outcome = { index: number; result: PredictionResult } | { index: number; error: unknown };
      const outcomes = await Promise.all(
        runs.map(async (r): Promise<Outcome> => {
          try {
            return { index: r.index, result: await runChild(r) };
          } catch (error) {
            if (spec.failure === 'fail-fast' && !isCancellation(error)) triggerFailFast();
            return { index: r.index, error };
          }
        }),
      );
      const succeeded = outcomes.flatMap((o) => ('result' in o ? [{ index: o.index, r: o.result }] : []));
      const failures = outcomes.flatMap((o) => ('error' in o ? [{ index: o.index, error: o.error }] : []));
      // Cost: everything Replicate billed, failed and canceled predictions included.
      let predictTime = 0;
      for (const { r } of succeeded) {
        predictTime += r.metrics.predict_time ?? 0;
        addCost(result, spec, name, model, r.metrics.predict_time ?? 0);
      }
      progress.failedPredictionIds = [];
      for (const { error } of failures) {
        const billed = failedPrediction(error);
        if (billed.predictionId) progress.failedPredictionIds.push(billed.predictionId);
        predictTime += billed.predictTime;
        if (billed.predictTime > 0) addCost(result, spec, name, model, billed.predictTime);
      }
      progress.predictTime = round(predictTime);
      // What succeeded is kept, in fan-out order: ids, outputs and files line up.
      progress.predictionIds = succeeded.map(({ r }) => r.id);
      const outputs = succeeded.map(({ r }) => r.output);
      progress.outputs = flattenOutputs(outputs);
      if (failures.length === 0) {
        views[name] = {
          output: fannedOut ? outputs : outputs[0],
          outputs: progress.outputs,
          input: runs[0]?.input ?? {},
        };
      }
      if (persist && !CancellationScope.current().consideredCancelled) {
        for (const { index, r } of succeeded) {
          const entries = await persistOutputs({
            pipelineId,
            step: name,
            index,
            predictionId: r.id,
            output: r.output,
          });
          result.manifest.files.push(...entries);
          progress.files.push(...entries.map((e) => e.path));
        }
      }
      if (failures.length > 0) {
        const real = failures.filter((f) => !isCancellation(f.error));
        if (!fannedOut || (real.length === 0 && failures.length === 1)) throw failures[0]!.error;
        if (real.length === 0) {
          progress.status = 'canceled';
          progress.error = `${failures.length} of ${runs.length} predictions canceled`;
          return false;
        }
        throw ApplicationFailure.nonRetryable(
          `${failures.length} of ${runs.length} predictions did not succeed: ${failures
            .map((f) => `[${f.index}] ${messageOf(f.error)}`)
            .join('; ')}`,
          real.length === 1 ? errorType(real[0]!.error) : undefined,
        );
      }
      progress.status = 'succeeded';
      return true;
    } catch (error) {
      progress.status = isCancellation(error) ? 'canceled' : 'failed';
      progress.error = messageOf(error);
      log.warn(`step ${name} ${progress.status}: ${progress.error}`, { step: name });
      if (spec.failure === 'fail-fast' && progress.status === 'failed') triggerFailFast();
      return false;
    } finally {
      progress.completedAt = new Date().toISOString();
      progress.elapsedMs = progress.startedAt
        ? Date.parse(progress.completedAt) - Date.parse(progress.startedAt)
        : null;
    }
  };

  await running.run(async () => {
    for (const name of topologicalOrder(spec)) done[name] = runStep(name);
    await Promise.all(Object.values(done));
  });

  const failed = Object.entries(result.steps).filter(([, p]) => p.status !== 'succeeded');
  result.status = failed.length === 0 ? 'succeeded' : 'failed';
  if (persist) {
    result.manifest.path = await writeManifest(pipelineId, {
      pipelineId,
      name: spec.name,
      status: result.status,
      files: result.manifest.files,
      cost: result.cost,
    });
  }
  if (result.status === 'failed') {
    throw ApplicationFailure.create({
      type: PipelineFailureType.Failed,
      message: `pipeline ${spec.name} failed: ${failed.map(([n, p]) => `${n} ${p.status}${p.error ? ` (${p.error})` : ''}`).join('; ')}`,
      nonRetryable: true,
      details: [result],
    });
  }
  return result;
}

function addCost(
  result: PipelineResult,
  spec: PipelineSpec,
  step: string,
  model: string,
  seconds: number,
): void {
  result.cost.predictTime[step] = round((result.cost.predictTime[step] ?? 0) + seconds);
  result.cost.totalPredictTime = round(result.cost.totalPredictTime + seconds);
  const usd = estimateCost(spec.prices, model, seconds);
  result.cost.estimatedUsd =
    usd === undefined || result.cost.estimatedUsd === null ? null : round(result.cost.estimatedUsd + usd, 6);
}

function emptyProgress(): StepProgress {
  return {
    status: 'pending',
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

function durationMs(text: string | undefined, fallback: string): number {
  const d = parseDuration(text ?? fallback);
  return 'ms' in d ? d.ms : (parseDuration(fallback) as { ms: number }).ms;
}

function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Why the longest child workflow id (`<pipeline id>--<step>[-<n>]`) cannot be used, or null. */
function childIdProblem(pipelineId: string, spec: PipelineSpec): string | null {
  for (const [name, step] of Object.entries(spec.steps)) {
    const last =
      step.foreach !== undefined
        ? PIPELINE_LIMITS.maxForeachItems - 1
        : step.count !== undefined
          ? step.count - 1
          : null;
    const suffix = `--${name}${last === null ? '' : `-${last}`}`;
    const problem = workflowIdProblem(
      `${pipelineId}${suffix}`,
      `the child workflow id of step ${name} (pipeline id + "${suffix}")`,
    );
    if (problem) return `pipeline id too long: ${problem}`;
  }
  return null;
}

/** The prediction a failed child ran, and the predict_time Replicate billed for it (from the failure details). */
function failedPrediction(error: unknown): { predictionId: string | null; predictTime: number } {
  let e: unknown = error;
  for (let depth = 0; e instanceof Error && depth < 10; depth++) {
    if (e instanceof ApplicationFailure) {
      const d = e.details?.[0] as Partial<PredictionFailureDetails> | undefined;
      if (d && typeof d === 'object' && 'predictionId' in d) {
        const t = d.metrics?.predict_time;
        return { predictionId: d.predictionId ?? null, predictTime: typeof t === 'number' && t > 0 ? t : 0 };
      }
    }
    e = e.cause;
  }
  return { predictionId: null, predictTime: 0 };
}

/** The innermost ApplicationFailure type, e.g. PredictionFailed. */
function errorType(error: unknown): string | undefined {
  let type: string | undefined;
  let e: unknown = error;
  for (let depth = 0; e instanceof Error && depth < 10; depth++) {
    if (e instanceof ApplicationFailure && e.type) type = e.type;
    e = e.cause;
  }
  return type;
}

function messageOf(error: unknown): string {
  let e = error as { message?: string; cause?: unknown } | undefined;
  // child failures wrap the run's own typed failure: report the innermost message
  while (e?.cause && (e.cause as { message?: string }).message) e = e.cause as typeof e;
  return e?.message ?? String(error);
}
