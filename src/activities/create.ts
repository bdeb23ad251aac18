/**
 * `createPrediction` and `createTraining`: exactly one POST per call, with `Cancel-After` so Replicate stops the job
 * even if every worker is dead. The workflow calls them once per attempt (no Temporal retries: each attempt's
 * outcome must be in the history) and searches for a lost attempt's job itself (./adoption.ts, `findOwnJobs`).
 */
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { MIN_CANCEL_AFTER_MS } from '../shared/ceiling';
import { formatSeconds } from '../shared/duration';
import type { ReplicateCallDetails } from '../shared/failure-details';
import { PredictionFailureType } from '../shared/failures';
import { isCreateTarget, parseModelRef } from '../shared/model-ref';
import type { JobKind, Prediction, PredictionSnapshot } from '../shared/types';
import { ClaimResolutionError, resolveClaims } from './claims';
import { call, shaped, type ActivityConfig, type ActivitySetup } from './context';

export interface CreatePredictionArgs {
  model: string;
  deployment?: boolean;
  input: Record<string, unknown>;
  /**
   * When Replicate itself must stop the job (ISO 8601), sent as `Cancel-After`: the workflow's execution timeout,
   * so the job stops even if every worker is dead. The workflow's own deadline comes a margin earlier.
   */
  cancelAt: string;
  /** when the workflow asked for this attempt (ISO 8601) */
  requestedAt?: string;
  /**
   * the run can wait for a concurrency slot: when the worker limits this model (REPLICATE_MODEL_CONCURRENCY),
   * answer `{ slotNeeded }` instead of creating (see ./slots.ts)
   */
  checkConcurrency?: boolean;
  /** with `checkConcurrency`: the request's own limit, so the run waits for a slot even where the worker sets none */
  concurrencyLimit?: number;
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
  args = {
    ...args,
    input: await beforeSending(() => resolvedInput(setup, args.input)),
  };
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
  return createJob(setup, 'prediction', args, route, data);
}

/** Start a training of `owner/name:version` into `destination`. */
export async function createTraining(
  setup: ActivitySetup,
  args: CreateTrainingArgs,
): Promise<PredictionSnapshot> {
  args = {
    ...args,
    input: await beforeSending(() => resolvedInput(setup, args.input)),
  };
  const target = parseModelRef(args.model);
  if (!isCreateTarget(target) || target.route !== 'version' || target.model === null) {
    throw ApplicationFailure.create({
      type: PredictionFailureType.InvalidRequest,
      message: `model: "${args.model}" must be owner/name:<64-hex version> to train`,
      nonRetryable: true,
    });
  }
  const route = `/models/${target.model}/versions/${target.version}/trainings`;
  return createJob(setup, 'training', args, route, {
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
 * Create a prediction or training: exactly one POST, never a listing (the workflow decides when to look for a lost
 * attempt's job: only after an attempt that may have committed, see src/workflows/job/create.ts). Every failure says
 * whether the attempt may have made a prediction (`createOutcome` in its details).
 */
async function createJob(
  setup: ActivitySetup,
  kind: JobKind,
  args: CreatePredictionArgs,
  route: string,
  data: Record<string, unknown>,
): Promise<PredictionSnapshot> {
  const { config, timeouts } = setup;
  const { workflowExecution, startToCloseTimeoutMs } = Context.current().info;
  // The attempt's timeout in force: the HTTP create timeout, never longer than the activity's own timeout.
  const attemptTimeoutMs = Math.min(timeouts.createMs, startToCloseTimeoutMs || Infinity);
  // The workflow id travels in the webhook URL: the receiver signals that workflow, and a later search for a lost
  // attempt's job recognises it by it.
  const webhook = webhookUrlFor(config.webhookBaseUrl, workflowExecution?.workflowId);
  if (webhook) Object.assign(data, { webhook, webhook_events_filter: ['start', 'completed'] });
  // Where this fleet serves rate-limited reads: the run polls and cancels there (src/worker/flow-control.ts).
  const routing = readsRouting(config);
  // Computed right before the POST, so the request's delay is only the HTTP exchange.
  const cancelAfter = await beforeSending(async () => cancelAfterFor(args.cancelAt));
  const job = await call(
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
    'create',
  );
  log.info(`${kind} ${job.id} created for ${args.model}`, {
    predictionId: job.id,
    kind,
    model: args.model,
    status: job.status,
    cancelAfter,
    attempt: Context.current().info.attempt,
  });
  // With polling only, the model's recent timing, for the run to plan its polls (src/shared/predictive-polling.ts).
  const timing = webhook === undefined ? setup.timings.timingFor(kind, job) : undefined;
  return {
    ...(await shaped(setup, job, kind)),
    webhook: webhook !== undefined,
    ...routing,
    ...(timing ? { timing } : {}),
  };
}

/**
 * Where a run polls: on this fleet's rate-limited reads queue, locally first while the worker has a share of the
 * budget (src/worker/flow-control.ts); nothing = local polls, no fleet limit.
 */
export function readsRouting(
  config: Pick<ActivityConfig, 'readsTaskQueue' | 'readShare'>,
): Pick<PredictionSnapshot, 'readsTaskQueue' | 'localReads'> {
  if (!config.readsTaskQueue) return {};
  return { readsTaskQueue: config.readsTaskQueue, ...(config.readShare ? { localReads: true } : {}) };
}

/** The webhook URL a create sends (`?workflow=<id>` names the run), or undefined without a receiver. */
export function webhookUrlFor(base: string | undefined, workflowId: string | undefined): string | undefined {
  return base && workflowId
    ? `${base.replace(/\/+$/, '')}/webhooks/replicate?workflow=${encodeURIComponent(workflowId)}`
    : undefined;
}

/**
 * Anything that fails before the POST leaves (a bad model reference, claims that cannot be read, too little time
 * left) provably created nothing: say so, so the workflow never searches for a job that cannot exist.
 */
async function beforeSending<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof ApplicationFailure && error.nonRetryable) throw error;
    const failure = error instanceof ApplicationFailure ? error : undefined;
    throw ApplicationFailure.create({
      type: failure?.type ?? 'CreateNotSent',
      message: (error as Error)?.message ?? String(error),
      nonRetryable: false,
      details: [
        {
          httpStatus: null,
          detail: null,
          invalidFields: null,
          retryAfterMs: null,
          createOutcome: 'not-created',
        } satisfies ReplicateCallDetails,
      ],
      cause: error instanceof Error ? error : undefined,
    });
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
