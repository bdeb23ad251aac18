/**
 * One step of a pipeline, whatever its kind (src/shared/pipeline/kinds/): wait for the steps it depends on, expand
 * it into its runs, take what earlier results serve (a rerun's, the result cache's: ./reuse.ts), make earlier
 * steps' output files reachable for the rest (./stage.ts), hand those to its kind's `run` (predictions: ./predict.ts;
 * approvals: ./approvals.ts), then record outputs, cost, files and each run's record. `runPipeline` in
 * ../pipeline.ts starts every step at once in topological order; each waits here for its dependencies.
 */
import { ApplicationFailure, CancellationScope, isCancellation, log } from '@temporalio/workflow';
import type { ReusedRunResult } from '../../activities/outputs';
import { MIN_RUN_CEILING_MS, STEP_CEILING_MARGIN_MS, stepChildCeilingMs } from '../../shared/ceiling';
import { PipelineFailureType } from '../../shared/failures';
import {
  ApprovalRejected,
  isFannedOut,
  kindOf,
  stepInputProblem,
  stepResultView,
  stepTimeoutMs,
  type PipelineSpec,
  type RunOutcome,
  type RunResult,
  type StepResultView,
  type StepRunInput,
} from '../../shared/pipeline';
import type { Approvals } from './approvals';
import type { PipelineBudget } from './budget';
import { errorType, failedPrediction, messageOf } from './failures';
import { persistOutputs } from './persist';
import { predictor } from './predict';
import { reportOutputs, type ReportBudget } from './report-outputs';
import type { StartGate } from './start-gate';
import { addCost, addFiles, markCompleted, round, type PipelineResult, type StepProgress } from './report';
import { reusedRuns } from './reuse';
import { stagedRuns } from './stage';

/** What the steps of one pipeline run share. */
export interface PipelineRun {
  spec: PipelineSpec;
  pipelineId: string;
  /** download outputs as steps succeed, and record each run (a rerun and the result cache read them) */
  persist: boolean;
  /** false: the namespace lacks our search attributes; children neither get nor upsert them */
  searchAttributes: boolean;
  /** the pipeline's execution timeout (ms since the epoch): no child may outlive it */
  ceiling: number;
  /** the report, updated as steps progress */
  result: PipelineResult;
  /** direct dependencies of each step */
  deps: Record<string, string[]>;
  /** what later steps' templates see of each succeeded step */
  views: Record<string, StepResultView>;
  /** each step's end: true when it succeeded */
  done: Record<string, Promise<boolean>>;
  failFastTriggered: boolean;
  /** the pipeline's own scope: what it cancels stops everything, fail-fast's scope included */
  root: CancellationScope;
  /** what the report holds inline of the steps' outputs (the rest is stored out of band) */
  reportBudget: ReportBudget;
  /** child starts in workflow tasks Temporal accepts, and the pipeline's total input bounded */
  starts: StartGate;
  /** the pipeline's budget ledger (children report their start to it), when the spec has a budget */
  budget?: PipelineBudget;
  /** approval steps' waits and the `approveStep` Update */
  approvals: Approvals;
  /** `--cache`/`--no-cache`: overrides the spec's `cache` for every step */
  cache?: boolean;
  /** a rerun: the earlier pipeline, `--from`, and the steps that run anew whatever the earlier run did */
  rerun?: { pipelineId: string; from?: string; anew: Set<string> };
  /** why the steps not started yet are skipped, when it is not fail-fast (the budget) */
  skipReason?: string;
  /** fail-fast: cancel every running step's children (and so their predictions) and skip the rest */
  triggerFailFast(): void;
  /** the report changed: the Temporal UI's current details follow */
  changed(): void;
}

/** Run step `name` once its dependencies have ended; true when it succeeded. Never throws. */
export async function runStep(run: PipelineRun, name: string): Promise<boolean> {
  const { spec, ceiling, deps, done } = run;
  const ok = await Promise.all((deps[name] ?? []).map((d) => done[d]!));
  const progress = run.result.steps[name]!;
  // nothing new starts once the spend has reached the budget (the crossing, settled, then fails the run)
  const overBudget = run.budget?.reached() === true && (await run.budget.cross());
  if (ok.some((x) => !x) || run.failFastTriggered || overBudget) {
    progress.status = 'skipped';
    progress.error = overBudget
      ? `skipped: the budget of $${run.budget!.usdLimit} was reached`
      : run.failFastTriggered
        ? (run.skipReason ?? 'skipped: another step failed (fail-fast)')
        : `skipped: ${(deps[name] ?? []).filter((_d, i) => !ok[i]).join(', ')} failed`;
    run.changed();
    return false;
  }
  progress.status = 'running';
  progress.startedAt = new Date().toISOString();
  run.changed();
  try {
    const step = spec.steps[name]!;
    const kind = kindOf(step);
    const runs = kind.expand(spec, name, { inputs: spec.inputs, steps: run.views });
    progress.runs = runs.length;
    const problem = stepInputProblem(name, runs);
    if (problem) throw ApplicationFailure.nonRetryable(problem, PipelineFailureType.InvalidSpec);
    const timeout = stepChildCeilingMs(stepTimeoutMs(spec, name), ceiling, Date.now());
    if (timeout === null) throw noTimeLeft(name, ceiling - Date.now());

    const reused = await reusedRuns(run, name, kind, runs);
    if (reused.size > 0) {
      progress.reused = [...reused.values()].map((h) => ({ index: h.index, ...h.from }));
      run.changed();
    }
    const fresh = await stagedRuns(
      run,
      runs.filter((r) => !reused.has(r.index)),
    );
    const ran: RunOutcome[] =
      fresh.length === 0
        ? []
        : await kind.run(
            {
              step: name,
              predict: predictor(run, name, timeout),
              awaitDecision: (request) => run.approvals.wait(name, request, ceiling),
            },
            spec,
            name,
            fresh,
          );
    const outcomes: RunOutcome[] = [
      ...[...reused.values()].map((h) => ({ index: h.index, result: h.result })),
      ...ran,
    ].sort((a, b) => a.index - b.index);

    const succeeded = outcomes.flatMap((o) => ('result' in o ? [{ index: o.index, r: o.result }] : []));
    const failures = outcomes.flatMap((o) => ('error' in o ? [{ index: o.index, error: o.error }] : []));
    billStep(run, name, progress, succeeded, failures, reused);
    // What succeeded is kept, in fan-out order: ids, outputs and files line up.
    progress.predictionIds = succeeded.flatMap(({ r }) => (r.predictionId ? [r.predictionId] : []));
    const outputs = succeeded.map(({ r }) => r.output);
    progress.outputs = await reportOutputs(run.reportBudget, name, outputs);
    if (failures.length === 0) {
      const inputs = new Map(runs.map((r) => [r.index, r.input]));
      run.views[name] = stepResultView(
        step,
        succeeded.map(({ index, r }) => ({ input: inputs.get(index)!, output: r.output })),
      );
    }
    await persistStep(run, name, kind.name, runs, succeeded, reused);
    if (failures.length > 0) {
      const real = failures.filter((f) => !isCancellation(f.error));
      if (!isFannedOut(step) || (real.length === 0 && failures.length === 1)) throw failures[0]!.error;
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
    if (spec.failure === 'fail-fast' && progress.status === 'failed') run.triggerFailFast();
    return false;
  } finally {
    markCompleted(progress);
    run.changed();
  }
}

/**
 * What succeeded is persisted (its files and its record; reused runs' were copied by reuseRuns) even once fail-fast
 * or the budget stops the rest (it is paid for); a cancel of the pipeline itself stops it.
 */
async function persistStep(
  run: PipelineRun,
  name: string,
  kind: string,
  runs: StepRunInput[],
  succeeded: { index: number; r: RunResult }[],
  reused: Map<number, ReusedRunResult>,
): Promise<void> {
  const progress = run.result.steps[name]!;
  if (!run.persist || run.root.consideredCancelled) return;
  const step = run.spec.steps[name]!;
  const k = kindOf(step);
  const cache = k.cacheable && (run.cache ?? step.cache ?? run.spec.cache ?? false);
  const inputs = new Map(runs.map((r) => [r.index, r]));
  await new CancellationScope({ cancellable: true, parent: run.root }).run(async () => {
    for (const { index, r } of succeeded) {
      const hit = reused.get(index);
      if (hit) {
        addFiles(run.result, progress, hit.files);
        continue;
      }
      const entries = await persistOutputs({
        pipelineId: run.pipelineId,
        step: name,
        index,
        predictionId: r.predictionId ?? '',
        // a decision's texts are a person's, not files to fetch: the record keeps it
        output: r.decision ? null : r.output,
        record: {
          kind,
          request: k.request(step, inputs.get(index)!),
          version: r.version,
          predictTime: r.predictTime,
          ...(r.decision ? { decision: r.decision } : {}),
          cache,
        },
      });
      addFiles(run.result, progress, entries);
    }
  });
}

/**
 * Cost of a finished step: everything Replicate billed, failed and canceled predictions included; runs an earlier
 * result served cost nothing.
 */
function billStep(
  run: PipelineRun,
  name: string,
  progress: StepProgress,
  succeeded: { index: number; r: RunResult }[],
  failures: { error: unknown }[],
  reused: Map<number, unknown>,
): void {
  let predictTime = 0;
  for (const { index, r } of succeeded) {
    if (reused.has(index)) continue;
    predictTime += r.predictTime;
    addCost(run.result, run.spec, name, r.predictTime);
  }
  progress.failedPredictionIds = [];
  for (const { error } of failures) {
    if (error instanceof ApprovalRejected) continue;
    const billed = failedPrediction(error);
    if (billed.predictionId) progress.failedPredictionIds.push(billed.predictionId);
    predictTime += billed.predictTime;
    if (billed.predictTime > 0) addCost(run.result, run.spec, name, billed.predictTime);
  }
  progress.predictTime = round(predictTime);
}

/** A step that would start too close to the pipeline's ceiling: it fails at once, no child started. */
function noTimeLeft(name: string, leftMs: number): ApplicationFailure {
  const s = (ms: number) => `${Math.round(ms / 100) / 10} s`;
  return ApplicationFailure.create({
    type: PipelineFailureType.NoTimeLeft,
    message: `step ${name} cannot start: the pipeline's ceiling is ${s(leftMs)} away, and a step needs at least ${s(MIN_RUN_CEILING_MS + STEP_CEILING_MARGIN_MS)} of it (${s(MIN_RUN_CEILING_MS)} for its prediction, ${s(STEP_CEILING_MARGIN_MS)} to spare); give the pipeline a longer timeout (its spec's \`timeout\`, or --timeout)`,
    nonRetryable: true,
  });
}
