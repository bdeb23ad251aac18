/**
 * `createPrediction` and `createTraining`: at most one POST per attempt, with `Cancel-After` so Replicate stops
 * the job even if every worker is dead. A retried attempt first looks for the job its lost predecessor made
 * (./adoption.ts).
 */
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { formatSeconds } from '../shared/duration';
import { PredictionFailureType, ReplicateTransientType } from '../shared/failures';
import { isCreateTarget, parseModelRef, type CreateTarget } from '../shared/model-ref';
import type { JobKind, Prediction, PredictionSnapshot } from '../shared/types';
import { findOwnJob } from './adoption';
import { ClaimResolutionError, resolveClaims } from './claims';
import { call, shaped, type ActivitySetup } from './context';

/** Replicate refuses a `Cancel-After` below 5 seconds. */
export const MIN_CANCEL_AFTER_MS = 5_000;

export interface CreatePredictionArgs {
  model: string;
  deployment?: boolean;
  input: Record<string, unknown>;
  /**
   * When Replicate itself must stop the job (ISO 8601), sent as `Cancel-After`: the workflow's execution timeout,
   * so the job stops even if every worker is dead. The workflow's own deadline comes a margin earlier.
   */
  cancelAt: string;
  /** when the workflow first asked for the create (ISO 8601): the start of the window searched for adoption */
  requestedAt?: string;
  /**
   * the run can wait for a concurrency slot: when the worker limits this model (REPLICATE_MODEL_CONCURRENCY),
   * answer `{ slotNeeded }` instead of creating (see ./slots.ts)
   */
  checkConcurrency?: boolean;
}

export interface CreateTrainingArgs extends Omit<CreatePredictionArgs, 'deployment'> {
  /** `owner/name:version` of the model to train */
  model: string;
  /** `owner/name` of the model that receives the trained version */
  destination: string;
}

/** Start a prediction asynchronously (no `Prefer: wait`) and return its first snapshot. */
export async function createPrediction(
  setup: ActivitySetup,
  args: CreatePredictionArgs,
): Promise<PredictionSnapshot> {
  args = { ...args, input: await resolvedInput(setup, args.input) };
  const target = parseModelRef(args.model, args.deployment === true);
  if (!isCreateTarget(target)) {
    throw ApplicationFailure.create({
      type: PredictionFailureType.InvalidRequest,
      message: target.error,
      nonRetryable: true,
    });
  }
  const route =
    target.route === 'version'
      ? '/predictions'
      : `/${target.route === 'model' ? 'models' : 'deployments'}/${target.owner}/${target.name}/predictions`;
  const data =
    target.route === 'version' ? { version: target.version, input: args.input } : { input: args.input };
  return createJob(setup, 'prediction', args, target, route, data);
}

/** Start a training of `owner/name:version` into `destination`. */
export async function createTraining(
  setup: ActivitySetup,
  args: CreateTrainingArgs,
): Promise<PredictionSnapshot> {
  args = { ...args, input: await resolvedInput(setup, args.input) };
  const target = parseModelRef(args.model);
  if (!isCreateTarget(target) || target.route !== 'version' || target.model === null) {
    throw ApplicationFailure.create({
      type: PredictionFailureType.InvalidRequest,
      message: `model: "${args.model}" must be owner/name:<64-hex version> to train`,
      nonRetryable: true,
    });
  }
  const route = `/models/${target.model}/versions/${target.version}/trainings`;
  return createJob(setup, 'training', args, target, route, {
    destination: args.destination,
    input: args.input,
  });
}

/**
 * A pipeline may pass an earlier step's large output (a claim reference a worker signed): Replicate gets the
 * value. Any other `{"$claim": …}` is sent as the data it is; an input that would grow past the input limit (or
 * nest past the depth limit) fails at once, not retried.
 */
async function resolvedInput(
  setup: ActivitySetup,
  input: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  try {
    return (await resolveClaims(input, setup.claims, { key: setup.claimKey })) as Record<string, unknown>;
  } catch (error) {
    if (!(error instanceof ClaimResolutionError)) throw error;
    throw ApplicationFailure.create({
      type: PredictionFailureType.InvalidRequest,
      message: error.message,
      nonRetryable: true,
    });
  }
}

/**
 * Create a prediction or training, at most one POST per attempt. On a retry (the previous attempt's outcome is
 * unknown: it may have created the job and lost the answer) first look for that job and adopt it.
 */
async function createJob(
  setup: ActivitySetup,
  kind: JobKind,
  args: CreatePredictionArgs,
  target: CreateTarget,
  route: string,
  data: Record<string, unknown>,
): Promise<PredictionSnapshot> {
  const { config, timeouts } = setup;
  cancelAfterFor(args.cancelAt); // refuse early when the minimum no longer fits
  const { attempt, workflowExecution, startToCloseTimeoutMs } = Context.current().info;
  // The attempt's timeout in force: the HTTP create timeout, never longer than the activity's own timeout. It
  // bounds how late Replicate may commit this create, so adoption's deadline window is widened by exactly it.
  const attemptTimeoutMs = Math.min(timeouts.createMs, startToCloseTimeoutMs || Infinity);
  // The workflow id travels in the webhook URL: the receiver signals that workflow, and a retried create can
  // recognise its own lost job by it.
  const webhook =
    config.webhookBaseUrl && workflowExecution
      ? `${config.webhookBaseUrl.replace(/\/+$/, '')}/webhooks/replicate?workflow=${encodeURIComponent(workflowExecution.workflowId)}`
      : undefined;
  if (webhook) Object.assign(data, { webhook, webhook_events_filter: ['start', 'completed'] });
  // Where this fleet serves rate-limited reads: the run polls and cancels there (src/worker/flow-control.ts).
  const routing = config.readsTaskQueue ? { readsTaskQueue: config.readsTaskQueue } : {};
  let cancelAfter = '';
  const result = await boundTransientFailures<{ adopted: PredictionSnapshot } | { created: Prediction }>(
    attempt,
    async () => {
      if (attempt > 1) {
        const adopted = await findOwnJob(setup, kind, args, target, webhook, attemptTimeoutMs);
        if (adopted) return { adopted };
      }
      // Computed right before the POST (after any listing), so the request's delay is only the HTTP exchange.
      cancelAfter = cancelAfterFor(args.cancelAt);
      const created = await call(
        setup,
        `create ${kind} for ${args.model}`,
        attemptTimeoutMs,
        async (client) => {
          // predictions.create() cannot send extra headers, so we use the client's request() for Cancel-After.
          const response = await client.request(route, {
            method: 'POST',
            headers: { 'Cancel-After': cancelAfter },
            data,
          });
          return (await response.json()) as Prediction;
        },
      );
      return { created };
    },
  );
  if ('adopted' in result) return { ...result.adopted, webhook: webhook !== undefined, ...routing };
  const job = result.created;
  log.info(`${kind} ${job.id} created for ${args.model}`, {
    predictionId: job.id,
    kind,
    model: args.model,
    status: job.status,
    cancelAfter,
    attempt,
  });
  return { ...(await shaped(setup, job)), webhook: webhook !== undefined, ...routing };
}

/** A create's failures other than 429 end the activity at this attempt (the earlier `maximumAttempts: 8`). */
export const CREATE_MAX_ATTEMPTS_UNLESS_RATE_LIMITED = 8;

/**
 * Since fleet-rate-limits-v1 a create has no maximum number of attempts (its schedule-to-close ends at the run's
 * deadline), so that a long 429 storm (low credit) only delays it. Every other retryable failure (5xx, timeouts,
 * resets) still ends it at attempt 8, as before.
 */
async function boundTransientFailures<T>(attempt: number, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (
      attempt >= CREATE_MAX_ATTEMPTS_UNLESS_RATE_LIMITED &&
      error instanceof ApplicationFailure &&
      !error.nonRetryable &&
      error.type !== ReplicateTransientType.RateLimited
    ) {
      throw ApplicationFailure.create({
        type: error.type ?? undefined,
        message: `${error.message} (attempt ${attempt}: giving up; only 429s are retried until the deadline)`,
        nonRetryable: true,
        details: error.details ?? undefined,
        cause: error.cause,
      });
    }
    throw error;
  }
}

/** Refuse to create when Replicate's minimum Cancel-After no longer fits before `cancelAt`. */
function cancelAfterFor(cancelAt: string): string {
  const remainingMs = Date.parse(cancelAt) - Date.now();
  if (!(remainingMs >= MIN_CANCEL_AFTER_MS)) {
    throw ApplicationFailure.create({
      type: PredictionFailureType.TimedOut,
      message: `only ${Math.max(0, remainingMs)} ms left before ${cancelAt}; not creating (Replicate's Cancel-After needs at least 5s)`,
      nonRetryable: true,
    });
  }
  return formatSeconds(remainingMs);
}
