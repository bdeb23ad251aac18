/**
 * Activities: every call to Replicate. Built by a factory that receives the configuration, so the token stays in
 * the worker process (never in workflow arguments or results) and tests can point at the simulator.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type Replicate from 'replicate';
import { formatSeconds } from '../shared/duration';
import { PredictionFailureType } from '../shared/failures';
import { isCreateTarget, parseModelRef } from '../shared/model-ref';
import { adoptionWindowStart, canonicalJson, chooseAdoption } from '../shared/adopt';
import type { CreateTarget } from '../shared/model-ref';
import type { JobKind, Prediction, PredictionSnapshot, PredictionStatus } from '../shared/types';
import { fileClaimStore, resolveClaims, type ClaimStore } from './claims';
import { ReplicateCallError, replicateCall, type ReplicateHttpConfig } from './replicate-client';
import { needsClaim, redact, snapshot as trim } from './snapshot';

export interface ActivityConfig extends ReplicateHttpConfig {
  /** public base URL of our webhook receiver (WEBHOOK_BASE_URL); creates then ask Replicate for webhooks */
  webhookBaseUrl?: string;
  /** per-request timeouts, ms */
  timeouts?: { createMs?: number; getMs?: number; cancelMs?: number };
  /**
   * Which open runs own these job ids (job id -> workflow id), e.g. from Temporal visibility: a retried create
   * never adopts a job another run owns. Optional: without it, ambiguous matches are simply not adopted.
   */
  jobOwners?: (ids: string[]) => Promise<Map<string, string>>;
  /**
   * Where outputs too large for a Temporal payload are kept (claim checks): a folder shared with the CLI
   * (default `outputs/.claims`), or any ClaimStore.
   */
  claims?: string | ClaimStore;
  /** outputs whose JSON is larger travel as a claim reference (default MAX_INLINE_OUTPUT_BYTES, 256 KiB) */
  maxInlineOutputBytes?: number;
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
  /** when the workflow first asked for the create (ISO 8601): the start of the window searched for adoption */
  requestedAt?: string;
}

export interface CreateTrainingArgs extends Omit<CreatePredictionArgs, 'deployment'> {
  /** `owner/name:version` of the model to train */
  model: string;
  /** `owner/name` of the model that receives the trained version */
  destination: string;
}

/** How far back (pages of 100) a retried create looks for the prediction its lost attempt made. */
export const ADOPTION_MAX_PAGES = 20;

export function createActivities(config: ActivityConfig) {
  const timeouts = { ...DEFAULT_HTTP_TIMEOUTS, ...config.timeouts };
  const claims =
    typeof config.claims === 'object' ? config.claims : fileClaimStore(config.claims ?? 'outputs/.claims');

  /** Replicate's answer as the workflow may see it: texts cleaned, a large final output stored as a claim. */
  function snapshot(job: Prediction): PredictionSnapshot {
    return trim(job, { token: config.token, maxInlineOutputBytes: config.maxInlineOutputBytes });
  }
  async function shaped(job: Prediction): Promise<PredictionSnapshot> {
    const s = snapshot(job);
    if (!needsClaim(s)) return s;
    const { outputOmitted: _omitted, ...rest } = s;
    const ref = await claims.put(job.output);
    log.info(`${s.id}: output of ${ref.bytes} bytes stored out of band as ${ref.$claim}`, {
      predictionId: s.id,
      bytes: ref.bytes,
    });
    return { ...rest, output: ref };
  }

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
          {
            httpStatus: c.status ?? null,
            detail: c.detail ?? null,
            invalidFields: c.invalidFields ?? null,
            // the workflow reads a 429's Retry-After here (nextRetryDelay does not reach workflow code)
            retryAfterMs: c.nextRetryDelayMs ?? null,
          },
        ],
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

  /**
   * Create a prediction or training, at most one POST per attempt. On a retry (the previous attempt's outcome is
   * unknown: it may have created the job and lost the answer) first look for that job and adopt it.
   */
  async function createJob(
    kind: JobKind,
    args: CreatePredictionArgs,
    target: CreateTarget,
    route: string,
    data: Record<string, unknown>,
  ): Promise<PredictionSnapshot> {
    cancelAfterFor(args.cancelAt); // refuse early when the minimum no longer fits
    const { attempt, workflowExecution, startToCloseTimeoutMs } = Context.current().info;
    // The attempt's timeout in force: the HTTP create timeout, never longer than the activity's own timeout. It
    // bounds how late Replicate may commit this create, so adoption's deadline window is widened by exactly it.
    const attemptTimeoutMs = Math.min(timeouts.createMs, startToCloseTimeoutMs || Infinity);
    // The workflow id travels in the webhook URL: the receiver signals that workflow, and a retried create can
    // recognise its own lost prediction by it.
    const webhook =
      config.webhookBaseUrl && workflowExecution
        ? `${config.webhookBaseUrl.replace(/\/+$/, '')}/webhooks/replicate?workflow=${encodeURIComponent(workflowExecution.workflowId)}`
        : undefined;
    if (webhook) Object.assign(data, { webhook, webhook_events_filter: ['start', 'completed'] });
    if (attempt > 1) {
      const adopted = await findOwnJob(kind, args, target, webhook, attemptTimeoutMs);
      if (adopted) return { ...adopted, webhook: webhook !== undefined };
    }
    // Computed right before the POST (after any listing), so the request's delay is only the HTTP exchange.
    const cancelAfter = cancelAfterFor(args.cancelAt);
    const job = await call(`create ${kind} for ${args.model}`, attemptTimeoutMs, async (client) => {
      // predictions.create() cannot send extra headers, so we use the client's request() for Cancel-After.
      const response = await client.request(route, {
        method: 'POST',
        headers: { 'Cancel-After': cancelAfter },
        data,
      });
      return (await response.json()) as Prediction;
    });
    log.info(`${kind} ${job.id} created for ${args.model}`, {
      predictionId: job.id,
      kind,
      model: args.model,
      status: job.status,
      cancelAfter,
      attempt,
    });
    return { ...(await shaped(job)), webhook: webhook !== undefined };
  }

  /**
   * Jobs created at or after `from` (ms), newest first, following the absolute `next` URLs until a page
   * reaches older jobs or `maxPages` pages were read. One HTTP exchange per page.
   */
  async function listSince(kind: JobKind, from: number, maxPages: number): Promise<Prediction[]> {
    const jobs: Prediction[] = [];
    let next: string | URL | null =
      kind === 'prediction'
        ? `/predictions?created_after=${encodeURIComponent(new Date(from).toISOString())}`
        : '/trainings';
    for (let page = 0; next !== null && page < maxPages; page++) {
      const route: string | URL = next;
      const body = await call(`list ${kind}s`, timeouts.getMs, async (client) => {
        const response = await client.request(route, { method: 'GET' });
        return (await response.json()) as { next?: string | null; results?: Prediction[] };
      });
      const results = body.results ?? [];
      jobs.push(...results.filter((p) => p.created_at !== undefined && Date.parse(p.created_at) >= from));
      const oldest = results.at(-1)?.created_at;
      next = body.next && !(oldest && Date.parse(oldest) < from) ? new URL(body.next) : null;
    }
    return jobs;
  }

  /** The job a lost attempt of this run created, if the listing shows exactly one (see src/shared/adopt.ts). */
  async function findOwnJob(
    kind: JobKind,
    args: CreatePredictionArgs,
    target: CreateTarget,
    webhook: string | undefined,
    attemptTimeoutMs: number,
  ): Promise<PredictionSnapshot | undefined> {
    const workflowId = Context.current().info.workflowExecution?.workflowId;
    const firstAttemptMs = args.requestedAt
      ? Date.parse(args.requestedAt)
      : Context.current().info.scheduledTimestampMs;
    const from = adoptionWindowStart(firstAttemptMs);
    const candidates = await listSince(kind, from, ADOPTION_MAX_PAGES);
    const criteria = {
      target,
      input: args.input,
      cancelAtMs: Date.parse(args.cancelAt),
      firstAttemptMs,
      nowMs: Date.now(),
      attemptTimeoutMs,
      ...(workflowId === undefined ? {} : { workflowId }),
      ...(webhook === undefined ? {} : { webhook }),
    };
    let choice = chooseAdoption(candidates, criteria);
    if (!choice.adopt && choice.matches.length > 1 && config.jobOwners) {
      // Several match: leave out those another open run already owns (a sibling with the same input).
      const owners = await config.jobOwners(choice.matches.map((m) => m.id)).catch((error: unknown) => {
        log.warn(`could not look up which runs own ${kind}s; adopting none of several`, {
          error: String(error),
        });
        return new Map<string, string>();
      });
      const ownedElsewhere = new Set([...owners].filter(([, wf]) => wf !== workflowId).map(([id]) => id));
      if (ownedElsewhere.size > 0) choice = chooseAdoption(candidates, { ...criteria, ownedElsewhere });
    }
    const { adopt, matches, extras } = choice;
    if (adopt) {
      log.warn(`adopted ${kind} ${adopt.id}: an earlier create attempt made it and its answer was lost`, {
        predictionId: adopt.id,
        kind,
        scanned: candidates.length,
      });
      // Other creates of this run that Replicate committed late: provably ours (webhook URL), never wanted.
      for (const extra of extras) await cancelExtra(kind, extra.id, adopt.id);
      return { ...(await shaped(adopt)), adopted: true };
    }
    if (matches.length > 1) {
      log.warn(`${matches.length} ${kind}s match this run and another one; adopting none, creating anew`, {
        candidates: matches.map((m) => m.id),
      });
    }
    return undefined;
  }

  /** Cancel a duplicate this run made; best effort (the reconciler and its Cancel-After remain). */
  async function cancelExtra(kind: JobKind, id: string, adoptedId: string): Promise<void> {
    try {
      await call(`cancel extra ${kind} ${id}`, timeouts.cancelMs, (client) =>
        kind === 'training' ? client.trainings.cancel(id) : client.predictions.cancel(id),
      );
      log.warn(`canceled ${kind} ${id}: a duplicate create of this run (adopted ${adoptedId})`, {
        predictionId: id,
        kind,
      });
    } catch (error) {
      log.warn(`could not cancel duplicate ${kind} ${id}; the reconciler will`, { error: String(error) });
    }
  }

  return {
    /** Start a prediction asynchronously (no `Prefer: wait`) and return its first snapshot. */
    async createPrediction(args: CreatePredictionArgs): Promise<PredictionSnapshot> {
      // A pipeline may pass an earlier step's large output (a claim reference): Replicate gets the value.
      args = { ...args, input: (await resolveClaims(args.input, claims)) as Record<string, unknown> };
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
      return createJob('prediction', args, target, route, data);
    },

    /** Start a training of `owner/name:version` into `destination`. */
    async createTraining(args: CreateTrainingArgs): Promise<PredictionSnapshot> {
      args = { ...args, input: (await resolveClaims(args.input, claims)) as Record<string, unknown> };
      const target = parseModelRef(args.model);
      if (!isCreateTarget(target) || target.route !== 'version' || target.model === null) {
        throw ApplicationFailure.create({
          type: PredictionFailureType.InvalidRequest,
          message: `model: "${args.model}" must be owner/name:<64-hex version> to train`,
          nonRetryable: true,
        });
      }
      const route = `/models/${target.model}/versions/${target.version}/trainings`;
      return createJob('training', args, target, route, { destination: args.destination, input: args.input });
    },

    /** Read a prediction's (or training's) current state. */
    async getPrediction(predictionId: string, kind: JobKind = 'prediction'): Promise<PredictionSnapshot> {
      const job = await call(`get ${kind} ${predictionId}`, timeouts.getMs, (client) =>
        kind === 'training' ? client.trainings.get(predictionId) : client.predictions.get(predictionId),
      );
      return shaped(job as Prediction);
    },

    /** Cancel a prediction (or training). Canceling one that already ended is harmless: it comes back unchanged. */
    async cancelPrediction(predictionId: string, kind: JobKind = 'prediction'): Promise<PredictionSnapshot> {
      const job = await call(`cancel ${kind} ${predictionId}`, timeouts.cancelMs, (client) =>
        kind === 'training' ? client.trainings.cancel(predictionId) : client.predictions.cancel(predictionId),
      );
      log.info(`${kind} ${predictionId} cancel requested; status now ${job.status}`, {
        predictionId,
        kind,
        status: job.status,
      });
      return shaped(job as Prediction);
    },

    /** Predictions (or trainings) created since `since` (ISO 8601), newest first, at most `maxPages` pages. */
    async listRecentJobs(
      since: string,
      kind: JobKind = 'prediction',
      maxPages = ADOPTION_MAX_PAGES,
    ): Promise<JobSummary[]> {
      const from = Date.parse(since);
      const jobs = await listSince(kind, from, maxPages);
      return jobs.map((p) => ({
        id: p.id,
        kind,
        model: p.model ?? null,
        status: p.status,
        createdAt: p.created_at ?? since,
        deadline: p.deadline ?? null,
        version: p.version ?? null,
        deployment: p.deployment ?? null,
        webhook: p.webhook ?? null,
        inputDigest: inputDigest(p.input ?? null),
      }));
    },
  };
}

/** sha256 of the canonical JSON of a job's input: how the reconciler compares listings with runs' requests. */
export function inputDigest(input: unknown): string {
  return createHash('sha256')
    .update(canonicalJson(input ?? null))
    .digest('hex');
}

/** One line of a listing, for the reconciler. */
export interface JobSummary {
  id: string;
  kind: JobKind;
  model: string | null;
  status: PredictionStatus;
  createdAt: string;
  /** set when the job was created with Cancel-After, as all of ours are */
  deadline: string | null;
  version?: string | null;
  deployment?: string | null;
  /** the webhook URL it was created with (ours name the workflow) */
  webhook?: string | null;
  /** sha256 of its input's canonical JSON (see inputDigest): the reconciler matches it to a run's request */
  inputDigest?: string;
}

export type Activities = ReturnType<typeof createActivities>;

/** Trim Replicate's prediction object (see ./snapshot); the receiver and tests use it too. */
export { snapshot } from './snapshot';
