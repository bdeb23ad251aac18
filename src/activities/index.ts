/**
 * Activities: every call to Replicate. Built by a factory that receives the configuration, so the token stays in
 * the worker process (never in workflow arguments or results) and tests can point at the simulator.
 */
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type Replicate from 'replicate';
import { formatSeconds } from '../shared/duration';
import { PredictionFailureType } from '../shared/failures';
import { isCreateTarget, parseModelRef } from '../shared/model-ref';
import type { Prediction, PredictionSnapshot } from '../shared/types';
import { ReplicateCallError, replicateCall, type ReplicateHttpConfig } from './replicate-client';

export interface ActivityConfig extends ReplicateHttpConfig {
  /** per-request timeouts, ms */
  timeouts?: { createMs?: number; getMs?: number; cancelMs?: number };
}

export const DEFAULT_HTTP_TIMEOUTS = { createMs: 30_000, getMs: 15_000, cancelMs: 10_000 };

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
}

const LOGS_TAIL_LINES = 20;

export function createActivities(config: ActivityConfig) {
  const timeouts = { ...DEFAULT_HTTP_TIMEOUTS, ...config.timeouts };

  /** One HTTP exchange, failures converted to typed ApplicationFailures (retry reason logged). */
  async function call<T>(
    operation: string,
    timeoutMs: number,
    fn: (client: Replicate) => Promise<T>,
  ): Promise<T> {
    const ctx = Context.current();
    if (ctx.info.attempt > 1) log.info(`${operation}: attempt ${ctx.info.attempt}`);
    try {
      return await replicateCall(config, { operation, timeoutMs, signal: ctx.cancellationSignal }, fn);
    } catch (error) {
      if (!(error instanceof ReplicateCallError)) throw error;
      const c = error.classified;
      const message = redact(c.message, config.token);
      log.warn(message, {
        failureType: c.type,
        httpStatus: c.status,
        retryable: !c.nonRetryable,
        nextRetryDelayMs: c.nextRetryDelayMs,
        attempt: ctx.info.attempt,
      });
      throw ApplicationFailure.create({
        type: c.type,
        message,
        nonRetryable: c.nonRetryable,
        nextRetryDelay: c.nextRetryDelayMs,
        details: [
          { httpStatus: c.status ?? null, detail: c.detail ?? null, invalidFields: c.invalidFields ?? null },
        ],
      });
    }
  }

  return {
    /** Start a prediction asynchronously (no `Prefer: wait`) and return its first snapshot. */
    async createPrediction(args: CreatePredictionArgs): Promise<PredictionSnapshot> {
      const target = parseModelRef(args.model, args.deployment === true);
      if (!isCreateTarget(target)) {
        throw ApplicationFailure.create({
          type: PredictionFailureType.InvalidRequest,
          message: target.error,
          nonRetryable: true,
        });
      }
      const remainingMs = Date.parse(args.cancelAt) - Date.now();
      if (!(remainingMs >= MIN_CANCEL_AFTER_MS)) {
        throw ApplicationFailure.create({
          type: PredictionFailureType.TimedOut,
          message: `only ${Math.max(0, remainingMs)} ms left before ${args.cancelAt}; not creating a prediction (Replicate's Cancel-After needs at least 5s)`,
          nonRetryable: true,
        });
      }
      // predictions.create() cannot send extra headers, so we use the client's request() for Cancel-After.
      const route =
        target.route === 'version'
          ? '/predictions'
          : `/${target.route === 'model' ? 'models' : 'deployments'}/${target.owner}/${target.name}/predictions`;
      const data =
        target.route === 'version' ? { version: target.version, input: args.input } : { input: args.input };
      const prediction = await call(
        `create prediction for ${args.model}`,
        timeouts.createMs,
        async (client) => {
          const response = await client.request(route, {
            method: 'POST',
            headers: { 'Cancel-After': formatSeconds(remainingMs) },
            data,
          });
          return (await response.json()) as Prediction;
        },
      );
      log.info(`prediction ${prediction.id} created for ${args.model}`, {
        predictionId: prediction.id,
        model: args.model,
        status: prediction.status,
        cancelAfter: formatSeconds(remainingMs),
      });
      return snapshot(prediction);
    },

    /** Read a prediction's current state. */
    async getPrediction(predictionId: string): Promise<PredictionSnapshot> {
      const prediction = await call(`get prediction ${predictionId}`, timeouts.getMs, (client) =>
        client.predictions.get(predictionId),
      );
      return snapshot(prediction as Prediction);
    },

    /** Cancel a prediction. Canceling one that already ended is harmless: Replicate returns it unchanged. */
    async cancelPrediction(predictionId: string): Promise<PredictionSnapshot> {
      const prediction = await call(`cancel prediction ${predictionId}`, timeouts.cancelMs, (client) =>
        client.predictions.cancel(predictionId),
      );
      log.info(`prediction ${predictionId} cancel requested; status now ${prediction.status}`, {
        predictionId,
        status: prediction.status,
      });
      return snapshot(prediction as Prediction);
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;

/** Trim Replicate's prediction object to what the workflow needs, so histories stay small. */
export function snapshot(p: Prediction): PredictionSnapshot {
  const logs = typeof p.logs === 'string' ? p.logs.split('\n').filter((l) => l.trim() !== '') : [];
  return {
    id: p.id,
    model: p.model ?? null,
    version: p.version ?? null,
    status: p.status,
    output: p.output ?? null,
    error: p.error === null || p.error === undefined ? null : String(p.error),
    logsTail: logs.slice(-LOGS_TAIL_LINES),
    metrics: p.metrics ?? {},
    createdAt: p.created_at ?? null,
    startedAt: p.started_at ?? null,
    completedAt: p.completed_at ?? null,
    deadline: p.deadline ?? null,
    urls: { get: p.urls?.get, cancel: p.urls?.cancel, web: p.urls?.web },
  };
}

/** Belt and braces: no message we produce may carry the token, whatever Replicate echoes back. */
function redact(text: string, token: string): string {
  return token ? text.split(token).join('***') : text;
}
