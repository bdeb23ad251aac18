/**
 * The prediction step's capability: one run as a child `runPrediction` workflow, within the step's ceiling, in its
 * own cancellation scope (the budget's crossing stops it alone; fail-fast's scope still stops every child), its
 * start and end reported to the budget's ledger. Deterministic code only.
 */
import {
  CancellationScope,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  isCancellation,
  startChild,
} from '@temporalio/workflow';
import { startBytes, type RunResult, type StepRuntime } from '../../shared/pipeline';
import { ReplicatePipelineId } from '../../shared/search-attributes';
import { runPrediction } from '../prediction';
import type { PipelineRun } from './run-step';

/** `StepRuntime.predict` for step `name` of `run`, its children started with `timeoutMs` as their ceiling. */
export function predictor(run: PipelineRun, name: string, timeoutMs: number): StepRuntime['predict'] {
  const progress = run.result.steps[name]!;
  return async (r): Promise<RunResult> => {
    const childId = `${run.pipelineId}--${name}${r.fannedOut ? `-${r.index}` : ''}`;
    progress.childWorkflowIds.push(childId);
    // its own scope: the budget's crossing stops this child alone (fail-fast's scope still stops them all)
    const scope = new CancellationScope();
    run.budget?.expect(childId, name, r.model, () => scope.cancel());
    const bytes = startBytes(r.input);
    const started = scope.run(async () => {
      // at most MAX_START_BYTES of inputs start in one workflow task (./start-gate.ts)
      await run.starts.admit(bytes, `step ${name}${r.fannedOut ? ` [${r.index}]` : ''}`);
      const child = await startChild(runPrediction, {
        workflowId: childId,
        args: [
          {
            model: r.model,
            deployment: r.deployment,
            input: r.input,
            polling: r.polling,
            // the pipeline persists its steps' outputs itself
            persist: false,
            ...(run.searchAttributes ? {} : { searchAttributes: false }),
            ...(run.budget ? { reportStartToParent: true } : {}),
          },
        ],
        workflowExecutionTimeout: timeoutMs,
        // A closed parent asks its children to cancel, so they cancel their predictions remotely.
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
        staticSummary: r.label,
        ...(run.searchAttributes
          ? { typedSearchAttributes: [{ key: ReplicatePipelineId, value: run.pipelineId }] }
          : {}),
      }).finally(() => run.starts.started(bytes));
      // A child asked to cancel whose job had already ended returns its result: kept, it is paid for. (With
      // WAIT_CANCELLATION_COMPLETED the parent gets it; TRY_CANCEL would settle as canceled at once.)
      return child.result();
    });
    try {
      const res = await started;
      run.budget?.ended(childId, { result: res });
      progress.predictionIds.push(res.id);
      run.changed();
      return {
        output: res.output,
        predictionId: res.id,
        model: res.model,
        version: res.version,
        predictTime: res.metrics.predict_time ?? 0,
      };
    } catch (error) {
      run.budget?.ended(childId, { error });
      // under fail-fast a failure cancels the others at once (a cancellation is already the pipeline's doing)
      if (run.spec.failure === 'fail-fast' && !isCancellation(error)) run.triggerFailFast();
      throw error;
    }
  };
}
