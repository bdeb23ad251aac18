/** Start, watch and wait for a pipeline (the `runPipeline` workflow) from a Temporal Client. */
import { DEFAULT_PIPELINE_TIMEOUT } from '../shared/ceiling';
import {
  ApplicationFailure,
  CancelledFailure,
  TerminatedFailure,
  TimeoutFailure,
  WorkflowFailedError,
  type Client,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { BudgetFailureType, PipelineFailureType } from '../shared/failures';
import { PipelineSpecError, validatePipelineSpec, type PipelineSpec } from '../shared/pipeline';
import { ReplicatePipelineId } from '../shared/search-attributes';
import { queuedLine } from '../shared/slots';
import { progressQuery, runPipeline, statusQuery } from '../workflows';
import type { ApprovalProgress, PipelineRequest, PipelineResult, ReusedRun } from '../workflows/pipeline';
import { resolveReportOutputs } from '../activities/claims';
import { pipelineStaticDetails } from './pipeline-details';
import { gaveUp } from './failures';
import type { OutcomeOptions } from './outcome';
import { ceilingMs, workflowIdOr } from './options';
import { searchAttributesUsable } from './search-attributes';
import { pollUntilClosed, type WatchOptions } from './watch';

/** A handle on a `runPipeline` run. */
export type PipelineHandle = WorkflowHandle<typeof runPipeline>;

/** Where a pipeline runs and for how long at most. */
export interface StartPipelineOptions {
  /** the task queue your worker polls */
  taskQueue: string;
  /** the pipeline's workflow id (default `pipeline-<name>-<random>`); also the folder of its outputs */
  workflowId?: string;
  /** the ceiling for the whole pipeline: ms or a duration such as `'30m'` (10 s to 168 h; default the spec's or 30 min) */
  timeout?: number | string;
  /**
   * set our search attributes on the pipeline and its runs (default true: registered on the namespace first when
   * missing); false leaves them out
   */
  searchAttributes?: boolean;
  /** hears, once per client, why the pipeline starts without our search attributes (default: a Node warning) */
  onWarning?: (message: string) => void;
  /** `--cache`/`--no-cache`: reuse earlier identical results for every prediction step, or for none (default: the spec's) */
  cache?: boolean;
  /** download outputs and record each run (default true; a rerun and the result cache need it) */
  persist?: boolean;
  /** a rerun of an earlier pipeline (rerunPipeline sets it) */
  rerun?: PipelineRequest['rerun'];
}

/**
 * Start `runPipeline` with a spec (e.g. from a YAML file) and values for its inputs. The spec and inputs are
 * validated here first (PipelineSpecError, every problem at its path) and again by the workflow, which ends an
 * invalid run with `InvalidPipelineSpec`. Search attributes as for startPrediction.
 */
export async function startPipeline(
  client: Client,
  { spec, inputs = {} }: { spec: PipelineSpec; inputs?: Record<string, unknown> },
  options: StartPipelineOptions,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof runPipeline>> {
  const checked = validatePipelineSpec(spec, inputs);
  if ('errors' in checked) throw new PipelineSpecError(checked.errors);
  const timeoutMs = ceilingMs(options.timeout, spec.timeout ?? DEFAULT_PIPELINE_TIMEOUT);
  const pipelineId = workflowIdOr(options.workflowId, `pipeline-${spec.name}`);
  const attributes =
    options.searchAttributes !== false && (await searchAttributesUsable(client, options.onWarning));
  const request: PipelineRequest = {
    spec,
    inputs,
    // without them, the children neither get ReplicatePipelineId nor upsert theirs
    ...(attributes ? {} : { searchAttributes: false }),
    ...(options.cache !== undefined ? { cache: options.cache } : {}),
    ...(options.persist === false ? { persist: false } : {}),
    ...(options.rerun ? { rerun: options.rerun } : {}),
  };
  return client.workflow.start(runPipeline, {
    taskQueue: options.taskQueue,
    workflowId: pipelineId,
    args: [request],
    workflowExecutionTimeout: timeoutMs,
    staticSummary: `pipeline ${spec.name}: ${Object.keys(spec.steps).join(' -> ')}${options.rerun ? ` (rerun of ${options.rerun.pipelineId})` : ''}`,
    staticDetails: pipelineStaticDetails(checked.spec, timeoutMs, request),
    ...(attributes ? { typedSearchAttributes: [{ key: ReplicatePipelineId, value: pipelineId }] } : {}),
  });
}

/** How a pipeline ended: exactly one object, whatever happened. */
export interface PipelineSummary {
  pipelineId: string;
  status: 'succeeded' | 'failed' | 'canceled' | 'timed_out' | 'terminated' | 'error';
  /** per step: its predictions, their outputs and the files persisted from them, and why it failed */
  steps: Record<
    string,
    {
      status: string;
      predictionIds: string[];
      outputs: unknown[];
      files: string[];
      error: string | null;
      /** the runs an earlier result served, and from where (a rerun's earlier pipeline, the result cache) */
      reused?: ReusedRun[];
      /** an approval step's question and decision */
      approval?: ApprovalProgress;
    }
  >;
  /** the manifest of the persisted files, when the pipeline got that far */
  manifest: string | null;
  cost: PipelineResult['cost'] | null;
  error: { type: string; message: string } | null;
}

/**
 * The pipeline's `progress` query, with the prediction ids of running steps filled in: the parent learns them
 * when its children finish, so each running child's `status` query is asked. Throws when the query fails.
 */
export async function pipelineProgress(handle: PipelineHandle): Promise<PipelineResult> {
  const progress = await handle.query(progressQuery);
  for (const step of Object.values(progress.steps)) {
    if (step.status !== 'running' || step.predictionIds.length >= step.childWorkflowIds.length) continue;
    const states = await Promise.all(
      step.childWorkflowIds.map((id) =>
        handle.client
          .getHandle(id)
          .query(statusQuery)
          .catch(() => null),
      ),
    );
    step.predictionIds = states.flatMap((s) => (s?.predictionId ? [s.predictionId] : []));
    // children waiting for a slot say where they stand
    const queued = states.flatMap((s) => (s?.queue ? [queuedLine(s.queue)] : []));
    if (queued.length > 0) step.queued = queued;
  }
  return progress;
}

/**
 * The pipeline's progress every `intervalMs` (reads that fail or take over 2 s are skipped) until the run closes.
 */
export function watchPipeline(
  handle: PipelineHandle,
  options: WatchOptions = {},
): AsyncIterable<PipelineResult> {
  return pollUntilClosed(
    handle,
    () => handle.client.withDeadline(Date.now() + 2_000, () => pipelineProgress(handle)).catch(() => null),
    () => false,
    options,
  );
}

/**
 * Wait for the pipeline to close and describe how it ended (a failed or canceled pipeline is a summary too). Step
 * outputs too large for the pipeline's report are claim references there; with `claims`, they are read back.
 */
export async function pipelineOutcome(
  handle: PipelineHandle,
  { claims }: OutcomeOptions = {},
): Promise<PipelineSummary> {
  const summary = await handle
    .result()
    .then(summarizePipeline, (error: unknown) => failureSummary(handle.workflowId, error));
  if (!claims) return summary;
  const steps = await Promise.all(
    Object.entries(summary.steps).map(
      async ([name, step]) =>
        [name, { ...step, outputs: await resolveReportOutputs(step.outputs, claims) }] as const,
    ),
  );
  return { ...summary, steps: Object.fromEntries(steps) };
}

/** A pipeline's result (or progress) as a PipelineSummary. */
export function summarizePipeline(r: PipelineResult): PipelineSummary {
  return {
    pipelineId: r.pipelineId,
    status: r.status,
    steps: Object.fromEntries(
      Object.entries(r.steps).map(([n, s]) => [
        n,
        {
          status: s.status,
          predictionIds: s.predictionIds,
          outputs: s.outputs,
          files: s.files,
          error: s.error === null ? null : gaveUp(s.error),
          ...(s.reused?.length ? { reused: s.reused } : {}),
          ...(s.approval ? { approval: s.approval } : {}),
        },
      ]),
    ),
    manifest: r.manifest.path,
    cost: r.cost,
    error:
      r.status === 'failed'
        ? { type: PipelineFailureType.Failed, message: 'one or more steps failed' }
        : null,
  };
}

async function failureSummary(pipelineId: string, error: unknown): Promise<PipelineSummary> {
  if (!(error instanceof WorkflowFailedError)) throw error;
  const cause = error.cause;
  if (
    cause instanceof ApplicationFailure &&
    (cause.type === PipelineFailureType.Failed || cause.type === BudgetFailureType.Exceeded) &&
    cause.details?.[0]
  ) {
    const summary = summarizePipeline(cause.details[0] as PipelineResult);
    return { ...summary, error: { type: cause.type, message: cause.message } };
  }
  const status =
    cause instanceof CancelledFailure
      ? 'canceled'
      : cause instanceof TimeoutFailure
        ? 'timed_out'
        : cause instanceof TerminatedFailure
          ? 'terminated'
          : 'error';
  const type = cause instanceof ApplicationFailure ? (cause.type ?? 'Error') : (cause?.name ?? 'Error');
  return {
    pipelineId,
    status,
    steps: {},
    manifest: null,
    cost: null,
    error: { type, message: gaveUp(cause?.message ?? error.message) },
  };
}

/** Ask the pipeline to cancel: its running steps cancel their predictions at Replicate. Returns the handle. */
export async function cancelPipeline(client: Client, workflowId: string): Promise<PipelineHandle> {
  const handle = client.workflow.getHandle<typeof runPipeline>(workflowId);
  await handle.cancel();
  return handle;
}
