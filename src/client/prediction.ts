/** Start, watch, wait for and cancel one prediction (the `runPrediction` workflow) from a Temporal Client. */
import { DEFAULT_CEILING_MS } from '../shared/ceiling';
import type { Client, WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { humanDuration } from '../shared/duration';
import { isTerminal, type PredictionRequest, type PredictionState } from '../shared/types';
import { validateRequest } from '../shared/validate';
import { runPrediction } from '../workflows';
import { ceilingMs, slug, workflowIdOr } from './options';
import { predictionOutcome, type OutcomeOptions, type RunSummary } from './outcome';
import { searchAttributesUsable } from './search-attributes';
import { predictionState } from './state';
import { pollUntilClosed, type WatchOptions } from './watch';

/** A handle on a `runPrediction` run (from startPrediction, or `client.workflow.getHandle(id)`). */
export type PredictionHandle = WorkflowHandle<typeof runPrediction>;

/** Where a prediction runs and for how long at most. */
export interface StartPredictionOptions {
  /** the task queue your worker (with our workflows and activities) polls */
  taskQueue: string;
  /** the workflow id (default `prediction-<model>-<random>`); a second start with a running id is refused */
  workflowId?: string;
  /**
   * the ceiling: milliseconds or a duration such as `'10m'` (10 s to 168 h; default 10 min). It is the workflow
   * execution timeout, and Replicate stops the job by itself then (`Cancel-After`).
   */
  timeout?: number | string;
  /**
   * hears, once per client, why the run starts without our search attributes: they were missing and the server
   * refused to register them (default: a Node process warning)
   */
  onWarning?: (message: string) => void;
}

/**
 * Start `runPrediction` for `request` (validated first: a TypeError names every problem). An input key whose value
 * is `undefined` is left out, as JSON leaves it out: it means "not set" (`{ prompt, seed: maybeSeed }`). The run
 * shows the model and the prompt in the Temporal UI. Our search attributes are registered on the namespace first
 * when missing; when the server refuses, the run starts without them. Resolves once the server accepted the start;
 * wait with predictionOutcome or watch with watchPrediction.
 */
export async function startPrediction(
  client: Client,
  given: PredictionRequest,
  options: StartPredictionOptions,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof runPrediction>> {
  const request = withoutUndefinedInputs(given);
  const problems = validateRequest(request);
  if (problems.length > 0) throw new TypeError(problems.join('; '));
  const timeoutMs = ceilingMs(options.timeout, DEFAULT_CEILING_MS);
  const attributes =
    request.searchAttributes !== false && (await searchAttributesUsable(client, options.onWarning));
  return client.workflow.start(runPrediction, {
    taskQueue: options.taskQueue,
    workflowId: workflowIdOr(options.workflowId, predictionIdPrefix(request.model)),
    args: [attributes ? request : { ...request, searchAttributes: false }],
    workflowExecutionTimeout: timeoutMs,
    staticSummary: summaryOf(request),
    staticDetails: detailsOf(request, timeoutMs),
  });
}

/** Start a prediction and wait for its outcome (never throws for a failed run: see RunSummary.status). */
export async function predict(
  client: Client,
  request: PredictionRequest,
  options: StartPredictionOptions & OutcomeOptions,
): Promise<RunSummary> {
  return predictionOutcome(await startPrediction(client, request, options), options);
}

/**
 * The run's state every `intervalMs` (the same state may repeat; reads that fail, e.g. while no worker polls,
 * are skipped) until the job reaches a terminal status (yielded last) or the run closes.
 */
export async function* watchPrediction(
  handle: PredictionHandle,
  options: WatchOptions = {},
): AsyncGenerator<PredictionState, void, undefined> {
  const terminal = (state: PredictionState) => state.status !== 'creating' && isTerminal(state.status);
  let last: PredictionState | undefined;
  for await (const state of pollUntilClosed(handle, () => predictionState(handle), terminal, options)) {
    last = state;
    yield state;
  }
  if (last === undefined || terminal(last) || options.signal?.aborted) return;
  // The run closed but its query did not answer (a closed run's query needs a worker to replay it): the
  // outcome, read from the history, says how the job ended.
  const outcome = await predictionOutcome(handle).catch(() => null);
  const status = outcome?.status;
  if (status === 'succeeded' || status === 'failed' || status === 'canceled' || status === 'aborted') {
    yield { ...last, status, predictionId: outcome?.predictionId ?? last.predictionId };
  }
}

/**
 * Ask the run to cancel: the workflow cancels its prediction at Replicate, then ends `canceled`. Returns the
 * handle (predictionOutcome waits for that end).
 */
export async function cancelPrediction(client: Client, workflowId: string): Promise<PredictionHandle> {
  const handle = client.workflow.getHandle<typeof runPrediction>(workflowId);
  await handle.cancel();
  return handle;
}

/** The request with the input's `undefined` values dropped (a copy; anything but an object input is left as is). */
function withoutUndefinedInputs(request: PredictionRequest): PredictionRequest {
  const input: unknown = request?.input;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return request;
  return {
    ...request,
    input: Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined)),
  };
}

/** Default workflow ids are `<this>-<random>`: `prediction-owner-name`. */
export const predictionIdPrefix = (model: string) => `prediction-${slug(model)}`;

/** One line for the Temporal UI: the model and an excerpt of the prompt. */
function summaryOf(request: PredictionRequest): string {
  const prompt = request.input.prompt;
  const excerpt =
    typeof prompt === 'string' ? `: "${prompt.length > 60 ? `${prompt.slice(0, 57)}...` : prompt}"` : '';
  return `${request.deployment ? 'deployment ' : ''}${request.model}${excerpt}`;
}

/** Markdown for the Temporal UI: the model (linked), the ceiling, the input as a list. */
export function detailsOf(request: PredictionRequest, timeoutMs: number): string {
  const model = request.model.replace(/:.*/, '');
  const link = /^[^/]+\/[^/]+$/.test(model)
    ? `[${request.model}](https://replicate.com/${model})`
    : `\`${request.model}\``;
  const rows = Object.entries(request.input).map(([key, value]) => {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    return `- **${key}:** ${(text.length > 200 ? `${text.slice(0, 197)}...` : text).replace(/\n/g, ' ')}`;
  });
  return [
    `**${request.deployment ? 'Deployment' : 'Model'}:** ${link}  `,
    `**Ceiling:** ${humanDuration(timeoutMs)} (Replicate stops the job by itself then, via Cancel-After)`,
    '',
    '**Input**',
    '',
    ...rows,
  ].join('\n');
}
