/**
 * How a job run ends and how it reads: the result or typed failure for a terminal status, the Temporal UI's
 * current details, and which poll failures are worth waiting out. Pure functions of the run's state; workflow-safe.
 */
import { ActivityFailure, ApplicationFailure, log } from '@temporalio/workflow';
import { budgetLine } from '../../shared/budget';
import { humanDuration } from '../../shared/duration';
import { queuedLine } from '../../shared/slots';
import { failureFacts, isTransient } from '../../shared/failure-details';
import { PipelineFailureType, PredictionFailureType } from '../../shared/failures';
import type {
  JobKind,
  PredictionFailureDetails,
  PredictionResult,
  PredictionSnapshot,
  PredictionState,
} from '../../shared/types';

/**
 * A poll that failed for a reason that waiting can fix (5xx, network, timeout, 429), with the 429's Retry-After;
 * undefined for anything else (401, 403, 404, ...: the run fails as before).
 */
export function transientPollFailure(error: unknown): { message: string; retryAfterMs?: number } | undefined {
  const facts = failureFacts(error);
  if (!isTransient(facts)) return undefined;
  const message = facts.timedOut ? `no answer in time (${facts.message})` : facts.message;
  return { message, ...(facts.retryAfterMs !== undefined ? { retryAfterMs: facts.retryAfterMs } : {}) };
}

/** Markdown for the Temporal UI's "current details": where the run stands now. */
export function currentDetails(state: PredictionState): string {
  const elapsed = humanDuration(Date.now() - Date.parse(state.startedAt));
  const link = state.webUrl ? ` · [open on Replicate](${state.webUrl})` : '';
  const lines = [
    `**${state.status}** · ${state.kind} \`${state.predictionId ?? '…'}\` · ${state.polls} poll${state.polls === 1 ? '' : 's'} · ${elapsed}${link}`,
  ];
  if (state.budget) lines.push('', budgetLine(state.budget, Date.now()));
  if (state.queue) lines.push('', queuedLine(state.queue));
  if (state.error) lines.push('', `error: ${state.error}`);
  if (state.pollError) lines.push('', `last poll failed (polling again): ${state.pollError}`);
  if (state.logsTail.length > 0) lines.push('', '```', ...state.logsTail.slice(-5), '```');
  return lines.join('\n');
}

/** Turn a terminal snapshot into the result, or into the typed failure for its status. */
export function finish(
  kind: JobKind,
  p: PredictionSnapshot,
  state: PredictionState,
  adopted: boolean,
): PredictionResult {
  state.completedAt = new Date().toISOString();
  if (p.status === 'succeeded' && p.dataRemoved) {
    const message = `${kind} ${p.id} succeeded but Replicate had already deleted its output (data_removed); run it again and read it sooner`;
    log.warn(message, { predictionId: p.id });
    throw ApplicationFailure.create({
      type: PipelineFailureType.OutputUnavailable,
      message,
      nonRetryable: true,
      details: [failureDetails(state, p)],
    });
  }
  if (p.status === 'succeeded') {
    log.info(`${kind} ${p.id} succeeded after ${state.polls} polls`, {
      predictionId: p.id,
      model: state.model,
      predictTime: p.metrics.predict_time,
    });
    return {
      id: p.id,
      model: p.model,
      version: p.version,
      status: 'succeeded',
      output: p.output,
      metrics: p.metrics,
      createdAt: p.createdAt,
      startedAt: p.startedAt,
      completedAt: p.completedAt,
      urls: p.urls,
      polls: state.polls,
      adopted,
    };
  }
  const type = {
    failed: PredictionFailureType.Failed,
    canceled: PredictionFailureType.Canceled,
    aborted: PredictionFailureType.Aborted,
  }[p.status as 'failed' | 'canceled' | 'aborted'];
  const message =
    p.status === 'failed'
      ? `${kind} ${p.id} failed: ${p.error ?? 'no error message'}`
      : p.status === 'canceled'
        ? `${kind} ${p.id} was canceled at Replicate`
        : `${kind} ${p.id} was aborted by Replicate before it ran (not billed)`;
  log.warn(message, { predictionId: p.id, model: state.model, status: p.status });
  throw ApplicationFailure.create({ type, message, nonRetryable: true, details: [failureDetails(state, p)] });
}

/** Surface an activity's typed failure as the workflow's own failure, so the UI shows the reason first. */
export function surface(error: unknown, state: PredictionState): unknown {
  if (error instanceof ActivityFailure && error.cause instanceof ApplicationFailure) {
    const cause = error.cause;
    state.error = cause.message;
    log.warn(`run failed: ${cause.message}`, { predictionId: state.predictionId, failureType: cause.type });
    return ApplicationFailure.create({
      type: cause.type ?? undefined,
      message: cause.message,
      nonRetryable: true,
      details: [...(cause.details ?? []), failureDetails(state, undefined)],
      cause: error,
    });
  }
  return error;
}

export function failureDetails(
  state: PredictionState,
  p: PredictionSnapshot | undefined,
): PredictionFailureDetails {
  return {
    predictionId: state.predictionId,
    status: p?.status ?? state.status,
    error: p?.error ?? state.error,
    logsTail: p?.logsTail ?? state.logsTail,
    metrics: p?.metrics,
  };
}

/** The typed failure of a run that reached its deadline (the job was canceled at Replicate by then). */
export function timedOut(
  kind: JobKind,
  state: PredictionState,
  current: PredictionSnapshot | undefined,
  runMs: number,
): ApplicationFailure {
  const message =
    state.predictionId === null && state.queue
      ? `${kind} for ${state.model} waited for a concurrency slot of ${state.queue.key} (limit ${state.queue.limit}) until the deadline ${state.deadline} (${humanDuration(runMs)} after the start); nothing was created`
      : `${kind} ${state.predictionId ?? '(not created)'} did not finish before the deadline ${state.deadline} (${humanDuration(runMs)} after the start); it was canceled at Replicate`;
  log.warn(message, { predictionId: state.predictionId });
  state.error = message;
  return ApplicationFailure.create({
    type: PredictionFailureType.TimedOut,
    message,
    nonRetryable: true,
    details: [failureDetails(state, current)],
  });
}
