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
  stepDependencies,
  topologicalOrder,
  validatePipelineSpec,
  type PipelineSpec,
  type StepResultView,
} from '../shared/pipeline';
import { ReplicatePipelineId } from '../shared/search-attributes';
import type { PredictionResult } from '../shared/types';
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
  predictionIds: string[];
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
  heartbeatTimeout: '30s',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [PipelineFailureType.OutputUnavailable, PipelineFailureType.OutputTooLarge],
  },
};
const { persistOutputs, writeManifest } = proxyActivities<OutputActivities>(persistOptions);

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
  setHandler(progressQuery, () => {
    const now = Date.now();
    for (const p of Object.values(result.steps)) {
      if (p.status === 'running' && p.startedAt) p.elapsedMs = now - Date.parse(p.startedAt);
    }
    return result;
  });

  const deps = stepDependencies(spec);
  const views: Record<string, StepResultView> = {};
  const done: Record<string, Promise<boolean>> = {};
  const running = new CancellationScope();
  let failFastTriggered = false;

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
      const remaining = ceiling - Date.now() - 5_000;
      const timeout = Math.min(durationMs(step.timeout ?? spec.stepTimeout, '10m'), remaining);
      const results = await Promise.all(
        runs.map(async (r): Promise<PredictionResult> => {
          const childId = `${pipelineId}--${name}${runs.length > 1 || step.count !== undefined || step.foreach !== undefined ? `-${r.index}` : ''}`;
          progress.childWorkflowIds.push(childId);
          const child = await startChild(runPrediction, {
            workflowId: childId,
            args: [
              {
                model: step.model ?? step.deployment!,
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
        }),
      );
      const outputs = results.map((r) => r.output);
      views[name] = {
        output: step.count !== undefined || step.foreach !== undefined ? outputs : outputs[0],
        outputs: flattenOutputs(outputs),
        input: runs[0]?.input ?? {},
      };
      progress.outputs = views[name]!.outputs;
      progress.predictTime = results.reduce((sum, r) => sum + (r.metrics.predict_time ?? 0), 0);
      for (const r of results)
        addCost(result, spec, name, step.model ?? step.deployment!, r.metrics.predict_time ?? 0);
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
    } catch (error) {
      progress.status = isCancellation(error) ? 'canceled' : 'failed';
      progress.error = messageOf(error);
      log.warn(`step ${name} ${progress.status}: ${progress.error}`, { step: name });
      if (spec.failure === 'fail-fast' && !failFastTriggered && progress.status === 'failed') {
        failFastTriggered = true;
        running.cancel(); // cancels every running step's children (and so their predictions)
      }
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

function messageOf(error: unknown): string {
  let e = error as { message?: string; cause?: unknown } | undefined;
  // child failures wrap the run's own typed failure: report the innermost message
  while (e?.cause && (e.cause as { message?: string }).message) e = e.cause as typeof e;
  return e?.message ?? String(error);
}
