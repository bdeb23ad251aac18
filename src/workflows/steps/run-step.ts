/**
 * One step of a pipeline: wait for the steps it depends on, expand it into its runs (one, `count`, or one per
 * `foreach` item), start a child `runPrediction` per run, then record outputs, cost and files. `runPipeline` in
 * ../pipeline.ts starts every step at once in topological order; each waits here for its dependencies.
 */
import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  isCancellation,
  log,
  startChild,
} from '@temporalio/workflow';
import { MIN_RUN_CEILING_MS, STEP_CEILING_MARGIN_MS, stepChildCeilingMs } from '../../shared/ceiling';
import { PipelineFailureType } from '../../shared/failures';
import {
  expandStep,
  isFannedOut,
  startBytes,
  stepInputProblem,
  stepResultView,
  stepTimeoutMs,
  type PipelineSpec,
  type StepResultView,
} from '../../shared/pipeline';
import { ReplicatePipelineId } from '../../shared/search-attributes';
import type { PredictionResult } from '../../shared/types';
import { runPrediction } from '../prediction';
import type { PipelineBudget } from './budget';
import { errorType, failedPrediction, messageOf } from './failures';
import { persistOutputs } from './persist';
import { reportOutputs, type ReportBudget } from './report-outputs';
import type { StartGate } from './start-gate';
import { addCost, addFiles, markCompleted, round, type PipelineResult, type StepProgress } from './report';

/** What the steps of one pipeline run share. */
export interface PipelineRun {
  spec: PipelineSpec;
  pipelineId: string;
  /** download outputs as steps succeed */
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
  /** why the steps not started yet are skipped, when it is not fail-fast (the budget) */
  skipReason?: string;
  /** fail-fast: cancel every running step's children (and so their predictions) and skip the rest */
  triggerFailFast(): void;
}

/** Run step `name` once its dependencies have ended; true when it succeeded. Never throws. */
export async function runStep(run: PipelineRun, name: string): Promise<boolean> {
  const { spec, pipelineId, persist, ceiling, result, deps, views, done } = run;
  const ok = await Promise.all((deps[name] ?? []).map((d) => done[d]!));
  const progress = result.steps[name]!;
  // nothing new starts once the spend has reached the budget (the crossing, settled, then fails the run)
  const overBudget = run.budget?.reached() === true && (await run.budget.cross());
  if (ok.some((x) => !x) || run.failFastTriggered || overBudget) {
    progress.status = 'skipped';
    progress.error = overBudget
      ? `skipped: the budget of $${run.budget!.usdLimit} was reached`
      : run.failFastTriggered
        ? (run.skipReason ?? 'skipped: another step failed (fail-fast)')
        : `skipped: ${(deps[name] ?? []).filter((_d, i) => !ok[i]).join(', ')} failed`;
    return false;
  }
  progress.status = 'running';
  progress.startedAt = new Date().toISOString();
  try {
    const step = spec.steps[name]!;
    const runs = expandStep(spec, name, { inputs: spec.inputs, steps: views });
    const problem = stepInputProblem(name, runs);
    if (problem) throw ApplicationFailure.nonRetryable(problem, PipelineFailureType.InvalidSpec);
    const timeout = stepChildCeilingMs(stepTimeoutMs(spec, name), ceiling, Date.now());
    if (timeout === null) throw noTimeLeft(name, ceiling - Date.now());
    const fannedOut = isFannedOut(step);
    const model = step.model ?? step.deployment!;
    const runChild = async (r: (typeof runs)[number]): Promise<PredictionResult> => {
      const childId = `${pipelineId}--${name}${fannedOut ? `-${r.index}` : ''}`;
      progress.childWorkflowIds.push(childId);
      // its own scope: the budget's crossing stops this child alone (fail-fast's scope still stops them all)
      const scope = new CancellationScope();
      run.budget?.expect(childId, name, model, () => scope.cancel());
      const bytes = startBytes(r.input);
      const started = scope.run(async () => {
        await run.starts.admit(bytes, `step ${name}${fannedOut ? ` [${r.index}]` : ''}`);
        const child = await startChild(runPrediction, {
          workflowId: childId,
          args: [
            {
              model,
              deployment: step.deployment !== undefined,
              input: r.input,
              polling: step.polling,
              ...(run.searchAttributes ? {} : { searchAttributes: false }),
              ...(run.budget ? { reportStartToParent: true } : {}),
            },
          ],
          workflowExecutionTimeout: timeout,
          // A closed parent asks its children to cancel, so they cancel their predictions remotely.
          parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
          staticSummary: `${name}${runs.length > 1 ? ` [${r.index}]` : ''}: ${step.model ?? step.deployment}`,
          ...(run.searchAttributes
            ? { typedSearchAttributes: [{ key: ReplicatePipelineId, value: pipelineId }] }
            : {}),
        }).finally(() => run.starts.started(bytes));
        // A child asked to cancel whose job had already ended returns its result: kept, it is paid for. (With
        // WAIT_CANCELLATION_COMPLETED the parent gets it; TRY_CANCEL would settle as canceled at once.)
        return child.result();
      });
      const res = await started.then(
        (r) => {
          run.budget?.ended(childId, { result: r });
          return r;
        },
        (error: unknown) => {
          run.budget?.ended(childId, { error });
          throw error;
        },
      );
      progress.predictionIds.push(res.id);
      return res;
    };

    // Every child runs to its end; a failure under fail-fast cancels the others at once.
    type Outcome = { index: number; result: PredictionResult } | { index: number; error: unknown };
    const outcomes = await Promise.all(
      runs.map(async (r): Promise<Outcome> => {
        try {
          return { index: r.index, result: await runChild(r) };
        } catch (error) {
          if (spec.failure === 'fail-fast' && !isCancellation(error)) run.triggerFailFast();
          return { index: r.index, error };
        }
      }),
    );
    const succeeded = outcomes.flatMap((o) => ('result' in o ? [{ index: o.index, r: o.result }] : []));
    const failures = outcomes.flatMap((o) => ('error' in o ? [{ index: o.index, error: o.error }] : []));
    billStep(run, name, model, progress, succeeded, failures);
    // What succeeded is kept, in fan-out order: ids, outputs and files line up.
    progress.predictionIds = succeeded.map(({ r }) => r.id);
    const outputs = succeeded.map(({ r }) => r.output);
    progress.outputs = await reportOutputs(run.reportBudget, name, outputs);
    if (failures.length === 0) {
      views[name] = stepResultView(
        step,
        runs.map((r, i) => ({ input: r.input, output: outputs[i] })),
      );
    }
    // What succeeded is persisted even once fail-fast or the budget stops the rest (it is paid for); a cancel of the
    // pipeline itself stops it.
    if (persist && !run.root.consideredCancelled) {
      await new CancellationScope({ cancellable: true, parent: run.root }).run(async () => {
        for (const { index, r } of succeeded) {
          const entries = await persistOutputs({
            pipelineId,
            step: name,
            index,
            predictionId: r.id,
            output: r.output,
          });
          addFiles(result, progress, entries);
        }
      });
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
    if (spec.failure === 'fail-fast' && progress.status === 'failed') run.triggerFailFast();
    return false;
  } finally {
    markCompleted(progress);
  }
}

/** Cost of a finished step: everything Replicate billed, failed and canceled predictions included. */
function billStep(
  run: PipelineRun,
  name: string,
  model: string,
  progress: StepProgress,
  succeeded: { r: PredictionResult }[],
  failures: { error: unknown }[],
): void {
  let predictTime = 0;
  for (const { r } of succeeded) {
    predictTime += r.metrics.predict_time ?? 0;
    addCost(run.result, run.spec, name, model, r.metrics.predict_time ?? 0);
  }
  progress.failedPredictionIds = [];
  for (const { error } of failures) {
    const billed = failedPrediction(error);
    if (billed.predictionId) progress.failedPredictionIds.push(billed.predictionId);
    predictTime += billed.predictTime;
    if (billed.predictTime > 0) addCost(run.result, run.spec, name, model, billed.predictTime);
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
