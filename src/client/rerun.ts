/**
 * `rerunPipeline`: start a pipeline again from an earlier run, paying only for what did not succeed. The earlier
 * run's spec and inputs come from its history (the start event, decoded with the client's data converter: payloads
 * may be encrypted); its results come from the output store, where every succeeded run left its record and files.
 */
import {
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { PipelineSpecError, validatePipelineSpec, type PipelineSpec } from '../shared/pipeline';
import type { PipelineRequest, runPipeline } from '../workflows/pipeline';
import { startPipeline } from './pipeline';

export interface RerunOptions {
  /** run this step and every step after it anew; default: every step whose earlier result is missing or whose request changed */
  from?: string;
  /** an edited spec (default the earlier run's) */
  spec?: PipelineSpec;
  /** inputs that replace the earlier run's, one by one (the others stay) */
  inputs?: Record<string, unknown>;
  /** the new run's workflow id (default `pipeline-<name>-<random>`) */
  pipelineId?: string;
  /** its task queue and ceiling (default the earlier run's) */
  taskQueue?: string;
  timeout?: number | string;
  /** `--cache`/`--no-cache` for every step (default the earlier run's) */
  cache?: boolean;
}

/** The earlier run as it was started: its request, task queue and ceiling. */
export async function startedRequest(
  client: Client,
  pipelineId: string,
): Promise<{ request: PipelineRequest; taskQueue: string; timeoutMs: number | undefined }> {
  const { history } = await client.workflowService
    .getWorkflowExecutionHistory({
      namespace: client.options.namespace,
      execution: { workflowId: pipelineId },
      maximumPageSize: 1,
    })
    .catch((error: unknown) => {
      // gRPC status 5: NOT_FOUND
      if ((error as { code?: unknown }).code === 5)
        throw new WorkflowNotFoundError(`no workflow with id ${pipelineId}`, pipelineId, undefined);
      throw error;
    });
  const started = history?.events?.[0]?.workflowExecutionStartedEventAttributes;
  if (!started || started.workflowType?.name !== 'runPipeline')
    throw new TypeError(
      `workflow ${pipelineId} is ${started ? `a ${started.workflowType?.name ?? 'different'} run` : 'not found'}, not a pipeline; rerun takes a pipeline id`,
    );
  const request = await decodeFromPayloadsAtIndex<PipelineRequest>(
    client.options.loadedDataConverter,
    0,
    started.input?.payloads,
  );
  const timeout = started.workflowExecutionTimeout;
  const timeoutMs =
    timeout?.seconds !== undefined && timeout.seconds !== null
      ? Number(timeout.seconds) * 1000 + Math.round((timeout.nanos ?? 0) / 1e6)
      : undefined;
  return { request, taskQueue: started.taskQueue?.name ?? '', timeoutMs: timeoutMs || undefined };
}

/**
 * Start a new run of pipeline `pipelineId` (failed, canceled or succeeded: its results must be in the output store)
 * with its spec and inputs, or the edited ones given: every step before `from` (default: every step whose request,
 * after templating, is unchanged) reuses the earlier run's persisted results, files and manifest entries, with no
 * prediction created; the report marks them `reused`. Throws PipelineSpecError for an invalid spec or input, a
 * TypeError for a `from` that is not a step or an id that is not a pipeline.
 */
export async function rerunPipeline(
  client: Client,
  pipelineId: string,
  options: RerunOptions = {},
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof runPipeline>> {
  const earlier = await startedRequest(client, pipelineId);
  const spec = (options.spec ?? earlier.request.spec) as PipelineSpec;
  // the earlier run's inputs are its overrides of the spec's defaults: an edited spec's new defaults still lose to them
  const inputs = { ...(earlier.request.inputs ?? {}), ...(options.inputs ?? {}) };
  const checked = validatePipelineSpec(spec, inputs);
  if ('errors' in checked) throw new PipelineSpecError(checked.errors);
  if (options.from !== undefined && !Object.hasOwn(checked.spec.steps, options.from))
    throw new TypeError(
      `--from ${options.from}: pipeline ${checked.spec.name} has no such step; its steps are ${Object.keys(checked.spec.steps).join(', ')}`,
    );
  const cache = options.cache ?? earlier.request.cache;
  return startPipeline(
    client,
    { spec, inputs },
    {
      taskQueue: options.taskQueue ?? earlier.taskQueue,
      ...(options.pipelineId ? { workflowId: options.pipelineId } : {}),
      ...(options.timeout !== undefined
        ? { timeout: options.timeout }
        : earlier.timeoutMs !== undefined
          ? { timeout: earlier.timeoutMs }
          : {}),
      ...(cache !== undefined ? { cache } : {}),
      ...(earlier.request.persist === false ? { persist: false } : {}),
      rerun: { pipelineId, ...(options.from !== undefined ? { from: options.from } : {}) },
    },
  );
}
