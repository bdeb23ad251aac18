/**
 * `runPipeline`: a DAG of steps of several kinds (predictions, each one or more child `runPrediction` workflows;
 * approvals, waiting for a person); outputs persisted as each step succeeds, a manifest and a cost report at the
 * end; `fail-fast` or `continue`; a rerun reuses an earlier run's results (docs/pipelines.md). One step's run is in
 * ./steps/run-step.ts, the report in ./steps/report.ts, the Temporal UI's current details in ./steps/details.ts.
 */
import {
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { BudgetFailureType, PipelineFailureType } from '../shared/failures';
import { workflowIdProblem } from '../shared/ids';
import {
  PIPELINE_LIMITS,
  pipelineTimeoutMs,
  progressSnapshot,
  stepDependencies,
  topologicalOrder,
  validatePipelineSpec,
  type PipelineSpec,
} from '../shared/pipeline';
import { jobStartedSignal } from './job/budget';
import { Approvals } from './steps/approvals';
import { PipelineBudget } from './steps/budget';
import { CLI_NAME, pipelineDetails } from './steps/details';
import { writeManifest } from './steps/persist';
import { emptyReport, type PipelineResult } from './steps/report';
import { runStep, type PipelineRun } from './steps/run-step';
import { StartGate } from './steps/start-gate';

export type {
  ApprovalProgress,
  PipelineCost,
  PipelineResult,
  ReusedRun,
  StepProgress,
  StepStatus,
} from './steps/report';
export { approveStepUpdate, type ApproveStepArgs } from './steps/approvals';

export interface PipelineRequest {
  /** the spec as parsed from YAML/JSON (validated again here) */
  spec: unknown;
  /** `--input KEY=VALUE` overrides of `spec.inputs` */
  inputs?: Record<string, unknown>;
  /** download outputs and write a manifest (default true) */
  persist?: boolean;
  /**
   * tag the child runs with the ReplicatePipelineId search attribute and let them upsert theirs (default true);
   * false on a namespace where replicate-temporal's search attributes are not registered
   */
  searchAttributes?: boolean;
  /** `--cache`/`--no-cache`: reuse earlier identical results for every prediction step (or none), whatever the spec says */
  cache?: boolean;
  /**
   * a rerun of an earlier pipeline (`pipeline rerun`, `rerunPipeline`): its persisted results serve every step before
   * `from` (default: every step whose request is unchanged) with no prediction created
   */
  rerun?: { pipelineId: string; from?: string };
}

export const progressQuery = defineQuery<PipelineResult>('progress');

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
  const problem = childIdProblem(pipelineId, spec);
  if (problem) {
    throw ApplicationFailure.create({
      type: PipelineFailureType.InvalidSpec,
      message: problem,
      nonRetryable: true,
    });
  }
  const rerunProblem = request.rerun ? rerunRequestProblem(request.rerun, spec) : null;
  if (rerunProblem) {
    throw ApplicationFailure.create({
      type: PipelineFailureType.InvalidSpec,
      message: rerunProblem,
      nonRetryable: true,
    });
  }
  const result = emptyReport(pipelineId, spec);
  // children report their jobs' started_at; a watcher stops the running ones at the crossing (./steps/budget.ts)
  const budget = spec.budget ? new PipelineBudget(spec.budget.usd, spec, () => changed()) : undefined;
  // the Temporal UI's current details, rewritten whenever the report changes
  const changed = () => {
    const view = budget ? { ...result, cost: { ...result.cost, budget: budget.view() } } : result;
    setCurrentDetails(pipelineDetails(view, spec, Date.now()));
  };
  if (budget) setHandler(jobStartedSignal, (s) => budget.started(s));
  setHandler(progressQuery, () => {
    const snapshot = progressSnapshot(result, Date.now());
    return budget ? { ...snapshot, cost: { ...snapshot.cost, budget: budget.view() } } : snapshot;
  });

  const approvals = new Approvals(result, pipelineId, changed);
  changed();

  const root = CancellationScope.current();
  const running = new CancellationScope();
  const deps = stepDependencies(spec);
  const run: PipelineRun = {
    spec,
    pipelineId,
    persist: request.persist !== false,
    searchAttributes: request.searchAttributes !== false,
    ceiling: info.executionExpirationTime?.getTime() ?? info.startTime.getTime() + pipelineTimeoutMs(spec),
    result,
    deps,
    views: {},
    approvals,
    changed,
    ...(request.cache !== undefined ? { cache: request.cache } : {}),
    ...(request.rerun
      ? {
          rerun: {
            pipelineId: request.rerun.pipelineId,
            ...(request.rerun.from !== undefined ? { from: request.rerun.from } : {}),
            anew: request.rerun.from === undefined ? new Set<string>() : downstream(request.rerun.from, deps),
          },
        }
      : {}),
    done: {},
    failFastTriggered: false,
    root,
    reportBudget: { inlineBytes: 0 },
    starts: new StartGate(),
    budget,
    triggerFailFast() {
      if (run.failFastTriggered) return;
      run.failFastTriggered = true;
      running.cancel(); // cancels every running step's children (and so their predictions)
    },
  };

  let finished = false;
  const watching = budget
    ?.watch(
      () => finished,
      (d) => {
        run.skipReason = `skipped: the budget of $${d.budgetUsd} was reached`;
        run.triggerFailFast(); // cancels the running children (and so their jobs at Replicate)
      },
    )
    .catch(() => undefined); // a cancel of the whole pipeline ends it; running.run reports that
  await running.run(async () => {
    for (const name of topologicalOrder(spec)) run.done[name] = runStep(run, name);
    await Promise.all(Object.values(run.done));
  });
  finished = true;
  await watching;
  if (budget) result.cost.budget = budget.view();

  const failed = Object.entries(result.steps).filter(([, p]) => p.status !== 'succeeded');
  result.status = failed.length === 0 ? 'succeeded' : 'failed';
  changed();
  if (run.persist) {
    result.manifest.path = await writeManifest(pipelineId, {
      pipelineId,
      name: spec.name,
      status: result.status,
      files: result.manifest.files,
      cost: result.cost,
    });
  }
  if (budget?.exceeded) {
    result.status = 'failed';
    throw ApplicationFailure.create({
      type: BudgetFailureType.Exceeded,
      message: budget.message(spec.name, budget.exceeded),
      nonRetryable: true,
      details: [result],
    });
  }
  if (result.status === 'failed') {
    throw ApplicationFailure.create({
      type: PipelineFailureType.Failed,
      message: `pipeline ${spec.name} failed: ${failed.map(([n, p]) => `${n} ${p.status}${p.error ? ` (${p.error})` : ''}`).join('; ')}${rerunHint(pipelineId, run.persist, failed[0]?.[0])}`,
      nonRetryable: true,
      details: [result],
    });
  }
  return result;
}

/** How to run it again without paying twice for what succeeded (its results are in the output store). */
function rerunHint(pipelineId: string, persisted: boolean, firstFailed: string | undefined): string {
  if (!persisted) return '';
  return `. Rerun it without paying again for the steps that succeeded: ${CLI_NAME} pipeline rerun ${pipelineId}${firstFailed ? ` (or --from ${firstFailed})` : ''}`;
}

/** Why a rerun request cannot be run, or null. */
function rerunRequestProblem(
  rerun: { pipelineId?: unknown; from?: unknown },
  spec: PipelineSpec,
): string | null {
  if (typeof rerun.pipelineId !== 'string' || rerun.pipelineId === '')
    return 'rerun.pipelineId: the earlier pipeline id is missing';
  if (rerun.from !== undefined && (typeof rerun.from !== 'string' || !Object.hasOwn(spec.steps, rerun.from)))
    return `rerun.from: no step '${String(rerun.from)}' in pipeline ${spec.name}; its steps are ${Object.keys(spec.steps).join(', ')}`;
  return null;
}

/** `from` and every step that depends on it, directly or not: what a rerun `--from` runs anew. */
function downstream(from: string, deps: Record<string, string[]>): Set<string> {
  const anew = new Set([from]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [name, ds] of Object.entries(deps))
      if (!anew.has(name) && ds.some((d) => anew.has(d))) {
        anew.add(name);
        grew = true;
      }
  }
  return anew;
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
