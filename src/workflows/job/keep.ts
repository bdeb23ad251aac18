/**
 * A single run's outputs outlive Replicate's hour: once its job succeeded, the run keeps the output files in the
 * worker's output store (keepOutputs) and names them in its result, unless it says `persist: false` (a pipeline's
 * children do: the pipeline keeps its steps' files). With `cache: true` it first asks the result cache for an
 * earlier kept result of the same request, and returns that instead of creating a prediction. A worker without the
 * activity (an embedder's own set) or without an output store keeps nothing. Deterministic code only.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  log,
  metricMeter,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { OutputActivities } from '../../activities/outputs';
import { countRunEnd } from '../../observability/metrics';
import type {
  PredictionRequest,
  PredictionResult,
  PredictionState,
  TrainingRequest,
} from '../../shared/types';
import { statusQuery } from '../messages';
import { keepOptions, reuseOptions } from '../retry-policies';

/** The step name of a single run's files in the store (`<workflow id>/output/`). */
const STEP = 'output';
/** Too little time left before the ceiling to keep anything. */
const MIN_KEEP_MS = 5_000;

const requestOf = (request: PredictionRequest | TrainingRequest) => ({
  model: (request as PredictionRequest).deployment ? `deployments/${request.model}` : request.model,
  input: request.input,
  index: 0,
});

/** The result the cache holds for this request, or undefined (a miss, or no cache asked). */
export async function cachedResult(request: PredictionRequest): Promise<PredictionResult | undefined> {
  if (request.cache !== true || request.persist === false || request.resume) return undefined;
  const { workflowId } = workflowInfo();
  let hits;
  try {
    hits = await proxyActivities<OutputActivities>({
      ...reuseOptions,
      retry: { ...reuseOptions.retry, nonRetryableErrorTypes: ['NotFoundError'] },
      summary: 'look in the result cache',
    }).reuseRuns({
      pipelineId: workflowId,
      step: STEP,
      kind: 'prediction',
      runs: [{ index: 0, request: requestOf(request) }],
      cache: true,
    });
  } catch (error) {
    log.warn(`result cache not read: ${messageOf(error)}`);
    return undefined;
  }
  const hit = hits[0];
  if (!hit) return undefined;
  countRunEnd(metricMeter, request.model, 'cached');
  // the `status` query answers for a served run too: it ended as it started, with the earlier prediction
  const now = new Date().toISOString();
  const state: PredictionState = {
    kind: 'prediction',
    model: request.model,
    predictionId: hit.result.predictionId,
    status: 'succeeded',
    polls: 0,
    nextPollAt: null,
    startedAt: workflowInfo().startTime.toISOString(),
    completedAt: now,
    deadline: now,
    logsTail: [],
    error: null,
    webUrl: null,
    runs: 1,
  };
  setHandler(statusQuery, () => state);
  setCurrentDetails(
    `**succeeded** · served by the result cache: ${hit.from.pipelineId}'s prediction \`${hit.from.predictionId ?? '…'}\` · nothing created, $0`,
  );
  log.info(`served by the result cache: ${hit.from.pipelineId}'s prediction ${hit.from.predictionId}`, {
    predictionId: hit.from.predictionId,
  });
  return {
    id: hit.result.predictionId ?? '',
    model: request.model,
    version: hit.result.version,
    status: 'succeeded',
    output: hit.result.output,
    // nothing ran, nothing is billed
    metrics: { predict_time: 0 },
    createdAt: null,
    startedAt: null,
    completedAt: null,
    urls: {},
    polls: 0,
    adopted: false,
    files: hit.files,
    cached: { workflowId: hit.from.pipelineId, predictionId: hit.from.predictionId },
  };
}

/** The result with its output files kept (or why not); as it is when the run keeps nothing. */
export async function keepOutputs(
  request: PredictionRequest | TrainingRequest,
  result: PredictionResult,
): Promise<PredictionResult> {
  if (request.persist === false || result.cached) return result;
  const info = workflowInfo();
  const left = (info.executionExpirationTime?.getTime() ?? Infinity) - Date.now() - 1_000;
  if (left < MIN_KEEP_MS)
    return { ...result, keepError: 'too little time left before the ceiling to keep the output files' };
  try {
    const kept = await proxyActivities<OutputActivities>({
      ...keepOptions,
      ...(Number.isFinite(left) ? { scheduleToCloseTimeout: left } : {}),
      summary: 'keep the output files',
    }).keepOutputs({
      workflowId: info.workflowId,
      predictionId: result.id,
      model: request.model,
      output: result.output,
      asked: request.persist === true,
      record: {
        kind: 'prediction',
        request: requestOf(request),
        version: result.version,
        predictTime: result.metrics.predict_time ?? 0,
        cache: request.cache === true,
      },
    });
    return kept ? { ...result, files: kept.files, manifest: kept.manifest } : result;
  } catch (error) {
    // a worker without the activity: it keeps nothing (an embedder's choice, not a failure)
    if (causeType(error) === 'NotFoundError') return result;
    const message = messageOf(error);
    log.warn(`prediction ${result.id} succeeded, but its output files were not kept: ${message}`, {
      predictionId: result.id,
    });
    return { ...result, keepError: message };
  }
}

function causeType(error: unknown): string | undefined {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

function messageOf(error: unknown): string {
  const cause = error instanceof ActivityFailure ? (error.cause ?? error) : error;
  return cause instanceof Error ? cause.message : String(cause);
}
