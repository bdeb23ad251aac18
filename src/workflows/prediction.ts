/**
 * `runPrediction` and `runTraining`: one Replicate job, run durably.
 *
 * create (Cancel-After = time to the execution timeout) -> loop { durable timer (backoff) -> get status } ->
 * terminal. The run's deadline comes from the workflow execution timeout minus a margin, because Temporal runs no
 * workflow code when that timeout fires: at our deadline we can still cancel the job remotely and fail with a
 * typed error. Every early end (deadline, user cancel, non-retryable error) cancels the remote job. Long jobs
 * continue as new before the history grows large, carrying the job id, the progress and (through the execution
 * timeout) the deadline.
 *
 * Deterministic code only: no Node built-ins, no I/O; activities are imported as types.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  TimeoutFailure,
  CancellationScope,
  ContinueAsNew,
  continueAsNew,
  condition,
  defineQuery,
  defineSignal,
  setCurrentDetails,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { pollDelayMs, withPollingDefaults } from '../shared/backoff';
import { humanDuration } from '../shared/duration';
import {
  NON_RETRYABLE_REPLICATE_ERRORS,
  PipelineFailureType,
  PredictionFailureType,
  ReplicateTransientType,
} from '../shared/failures';
import { ReplicateModel, ReplicatePredictionId, ReplicateStatus } from '../shared/search-attributes';
import {
  isTerminal,
  type JobKind,
  type PredictionFailureDetails,
  type PredictionRequest,
  type PredictionResult,
  type PredictionSnapshot,
  type PredictionState,
  type TrainingRequest,
} from '../shared/types';
import { validateRequest, validateTrainingRequest } from '../shared/validate';

/** Live state of the run: job id, last status, polls, next poll time, last log lines. */
export const statusQuery = defineQuery<PredictionState>('status');

/** Replicate's webhook for this run's job, verified and forwarded by the webhook receiver. */
export const webhookSignal = defineSignal<[PredictionSnapshot]>('replicateWebhook');

/**
 * With webhooks on, polling is only the fallback for lost deliveries (Replicate already retries the terminal
 * webhook): 60 s, ×2, capped at 5 min, restarted by every webhook, so a job of up to 3 minutes costs at most one
 * GET besides its create. Runs recorded before POLLING_V5_PATCH keep the earlier 30 s ×1.5 ≤ 2 min on replay.
 */
export const WEBHOOK_FALLBACK_POLLING = {
  initialIntervalMs: 60_000,
  multiplier: 2,
  maxIntervalMs: 300_000,
};
const WEBHOOK_FALLBACK_POLLING_V4 = { initialIntervalMs: 30_000, multiplier: 1.5, maxIntervalMs: 120_000 };

/** Order of statuses: a webhook never moves a run backwards (deliveries can be duplicated or reordered). */
function progressRank(status: PredictionSnapshot['status']): number {
  return status === 'starting' ? 0 : status === 'processing' ? 1 : 2;
}

/** Ceiling used when the workflow was started without an execution timeout. */
export const DEFAULT_CEILING_MS = 10 * 60_000;
/** Continue-as-new after this many polls in one run (~11 history events each). */
export const DEFAULT_MAX_POLLS_PER_RUN = 500;
/** Shortest time between our deadline and the ceiling we accept; leaves room for the remote cancel. */
const MIN_RUN_MS = 5_000;
/** Patch id: runs recorded before search attributes existed replay without upserts. */
const SEARCH_ATTRIBUTES_PATCH = 'search-attributes-v1';
/**
 * Polling as of v5, in one patch: (1) status polls are local activities: the same call, timeouts and retry
 * policy, but 6 history events per poll instead of 11 (one marker instead of three activity events and a second
 * workflow task): 57 instead of 74 events for a 60 s prediction (see README, Benchmarks). Create and cancel stay
 * regular activities: their retries and policies are what the history must show. (2) The webhook fallback
 * schedule is WEBHOOK_FALLBACK_POLLING. Runs recorded before the patch keep both old behaviours on replay.
 */
const POLLING_V5_PATCH = 'local-activity-polls-v1';
/**
 * v6, in one patch: (1) a status read is safe to retry, so a poll that fails for a transient reason (5xx, network,
 * timeout, 429) no longer fails the run: the workflow records it, waits its next backoff interval (at least the
 * 429's Retry-After) and polls again, until its own deadline; an outage alone never cancels the prediction. Each
 * poll's schedule-to-close ends at the deadline, computed per poll. (2) Webhook news is kept per job id: news about
 * another prediction is ignored. (3) Continue-as-new carries the webhook mode and buffered webhook news. (4) A
 * webhook whose output was too large to signal (outputOmitted) triggers an immediate GET instead of ending the run.
 * Runs recorded before the patch keep the v5 behaviour on replay.
 */
const RESILIENCE_V6_PATCH = 'outages-and-late-news-v1';

/**
 * Default safety margin between our deadline and the workflow's execution timeout: 10 % of the timeout, at least
 * 2 s, at most 15 s. It must cover one cancel call (10 s HTTP timeout) plus a retry.
 */
export function defaultDeadlineMarginMs(ceilingMs: number): number {
  return Math.min(15_000, Math.max(2_000, Math.round(ceilingMs * 0.1)));
}

/** Retry policies are explicit so they read the same in code and in the workflow history. */
const createOptions: ActivityOptions = {
  startToCloseTimeout: '40s', // HTTP timeout 30 s + margin; a listing for adoption stays well inside
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '20s',
    maximumAttempts: 8,
    nonRetryableErrorTypes: NON_RETRYABLE_REPLICATE_ERRORS,
  },
};
const getOptions: ActivityOptions = {
  startToCloseTimeout: '20s', // HTTP timeout 15 s + margin
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '15s',
    maximumAttempts: 10,
    nonRetryableErrorTypes: NON_RETRYABLE_REPLICATE_ERRORS,
  },
};
/**
 * v6 polls: a short retry inside one poll absorbs a blip; a longer outage is ridden out by the workflow's own
 * backoff between polls (durable timers), until the deadline. Nothing here gives up on the job.
 */
const getOptionsV6: ActivityOptions = {
  startToCloseTimeout: '20s', // HTTP timeout 15 s + margin
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '4s',
    maximumAttempts: 3,
    nonRetryableErrorTypes: NON_RETRYABLE_REPLICATE_ERRORS,
  },
};
const cancelOptions: ActivityOptions = {
  startToCloseTimeout: '12s', // HTTP timeout 10 s + margin
  scheduleToCloseTimeout: '40s',
  retry: {
    initialInterval: '500ms',
    backoffCoefficient: 2,
    maximumInterval: '4s',
    maximumAttempts: 5,
    nonRetryableErrorTypes: NON_RETRYABLE_REPLICATE_ERRORS,
  },
};

export async function runPrediction(request: PredictionRequest): Promise<PredictionResult> {
  return runJob('prediction', request, validateRequest(request));
}

export async function runTraining(request: TrainingRequest): Promise<PredictionResult> {
  return runJob('training', request, validateTrainingRequest(request));
}

async function runJob(
  kind: JobKind,
  request: PredictionRequest | TrainingRequest,
  problems: string[],
): Promise<PredictionResult> {
  const info = workflowInfo();
  // `resume` is only ever written by our own continue-as-new: from a client it is malformed (or, well formed,
  // would make this run poll and cancel a prediction it never created).
  if (request?.resume !== undefined && info.continuedFromExecutionRunId === undefined) {
    problems = [...problems, 'resume: is set by the workflow itself when it continues as new; never pass it'];
  }
  if (problems.length > 0) {
    throw ApplicationFailure.create({
      type: PredictionFailureType.InvalidRequest,
      message: `invalid ${kind} request: ${problems.join('; ')}`,
      nonRetryable: true,
    });
  }

  const resume = request.resume;
  const firstStart = resume ? Date.parse(resume.startedAt) : info.startTime.getTime();
  const ceiling = info.executionExpirationTime?.getTime() ?? firstStart + DEFAULT_CEILING_MS;
  const margin = request.deadlineMarginMs ?? defaultDeadlineMarginMs(ceiling - firstStart);
  const deadline = ceiling - margin;
  let polling = withPollingDefaults(request.polling);
  const maxPollsPerRun = request.maxPollsPerRun ?? DEFAULT_MAX_POLLS_PER_RUN;
  const useSearchAttributes = patched(SEARCH_ATTRIBUTES_PATCH) && request.searchAttributes !== false;
  const v6 = patched(RESILIENCE_V6_PATCH);

  const state: PredictionState = {
    kind,
    model: request.model,
    predictionId: resume?.job.id ?? null,
    status: resume?.job.status ?? 'creating',
    polls: resume?.polls ?? 0,
    nextPollAt: null,
    startedAt: new Date(firstStart).toISOString(),
    completedAt: null,
    deadline: new Date(deadline).toISOString(),
    logsTail: resume?.job.logsTail ?? [],
    error: null,
    webUrl: resume?.job.urls.web ?? null,
    runs: (resume?.runs ?? 0) + 1,
  };
  setHandler(statusQuery, () => state);
  // The job this run follows: declared before the signal handler, which may run as soon as it is set.
  let current: PredictionSnapshot | undefined = resume?.job;
  // A webhook may arrive before the create returns (or between polls): keep the most advanced one.
  let pushed: PredictionSnapshot | undefined;
  // v6: the most advanced news per job id, so news about another prediction can never hide our own.
  const news = new Map<string, PredictionSnapshot>();
  if (v6 && resume?.news) news.set(resume.news.id, resume.news);
  setHandler(webhookSignal, (snapshot) => {
    if (v6) {
      if (current !== undefined && snapshot.id !== current.id) {
        log.warn(`ignored a webhook about ${kind} ${snapshot.id}: this run follows ${current.id}`, {
          predictionId: current.id,
          webhookPredictionId: snapshot.id,
        });
        return;
      }
      const known = news.get(snapshot.id);
      if (known === undefined || progressRank(snapshot.status) > progressRank(known.status)) {
        if (known === undefined && news.size >= MAX_PENDING_NEWS) return; // a flood of strangers before the create
        news.set(snapshot.id, snapshot);
      }
      return;
    }
    if (pushed === undefined || progressRank(snapshot.status) > progressRank(pushed.status))
      pushed = snapshot;
  });
  const pendingNews = (): PredictionSnapshot | undefined =>
    v6 ? (current === undefined ? undefined : news.get(current.id)) : pushed;
  const newsFromWebhook = (): boolean => {
    const n = pendingNews();
    return (
      n !== undefined &&
      current !== undefined &&
      n.id === current.id &&
      progressRank(n.status) > progressRank(current.status)
    );
  };

  if (!resume && deadline - Date.now() < MIN_RUN_MS) {
    throw ApplicationFailure.create({
      type: PredictionFailureType.InvalidRequest,
      message: `the workflow execution timeout leaves ${Math.max(0, deadline - Date.now())} ms before the deadline (margin ${margin} ms); start it with a longer timeout`,
      nonRetryable: true,
    });
  }
  if (useSearchAttributes && !resume) upsertSearchAttributes([{ key: ReplicateModel, value: request.model }]);

  // Activity proxies whose schedule-to-close timeouts end at our deadline: nothing is retried past it.
  const untilDeadline = Math.max(1_000, deadline - Date.now());
  const { createPrediction, createTraining } = proxyActivities<Activities>({
    ...createOptions,
    scheduleToCloseTimeout: untilDeadline,
    summary: `create ${kind} for ${request.model}`,
  });
  const pollingV5 = patched(POLLING_V5_PATCH);
  const getPrediction = (id: string, poll: number) => {
    const options = {
      ...(v6 ? getOptionsV6 : getOptions),
      // v6: each poll may retry until the deadline, not until a deadline computed once at the start
      scheduleToCloseTimeout: v6 ? Math.max(1_000, deadline - Date.now()) : untilDeadline,
      summary: `poll ${poll}: get ${kind} ${id}`,
    };
    return (
      pollingV5 ? proxyLocalActivities<Activities>(options) : proxyActivities<Activities>(options)
    ).getPrediction(id, kind);
  };
  const { cancelPrediction } = proxyActivities<Activities>({
    ...cancelOptions,
    summary: `cancel ${kind} at Replicate`,
  });

  let adopted = false;
  // Webhook mode: decided by the create; v6 carries it across continue-as-new (poll snapshots do not say).
  let webhookMode = v6 && resume?.webhook === true;
  // v6: the next poll waits at least this long (a 429's Retry-After seen by a failed poll)
  let minNextWaitMs = 0;
  // v6: a webhook said the job ended but its output was too large to signal: read it with a GET now
  let pollNow = false;
  const observe = (next: PredictionSnapshot): void => {
    if (current === undefined) {
      adopted = next.adopted === true;
      log.info(`${kind} ${next.id} ${adopted ? 'adopted' : 'created'}, status ${next.status}`, {
        predictionId: next.id,
        model: request.model,
        adopted,
      });
    } else if (current.status !== next.status) {
      log.info(`${kind} ${next.id}: ${current.status} -> ${next.status}`, {
        predictionId: next.id,
        from: current.status,
        to: next.status,
        polls: state.polls,
      });
    }
    if (useSearchAttributes && (current?.id !== next.id || current.status !== next.status)) {
      upsertSearchAttributes([
        { key: ReplicatePredictionId, value: next.id },
        { key: ReplicateStatus, value: next.status },
      ]);
    }
    current = next;
    state.predictionId = next.id;
    state.status = next.status;
    state.logsTail = next.logsTail;
    state.error = next.error;
    state.webUrl = next.urls.web ?? null;
    setCurrentDetails(currentDetails(state));
  };

  let pollsThisRun = 0;
  try {
    return await CancellationScope.withTimeout(deadline - Date.now(), async () => {
      if (current === undefined) {
        const args = {
          model: request.model,
          input: request.input,
          cancelAt: new Date(ceiling).toISOString(),
          requestedAt: new Date().toISOString(),
        };
        // Non-cancellable: a create already on the wire must finish so we learn the id and can cancel it.
        observe(
          await CancellationScope.nonCancellable(() =>
            kind === 'training'
              ? createTraining({ ...args, destination: (request as TrainingRequest).destination })
              : createPrediction({ ...args, deployment: (request as PredictionRequest).deployment }),
          ),
        );
      }
      if (current!.webhook) webhookMode = true;
      if ((v6 ? webhookMode : current!.webhook) && request.polling === undefined)
        polling = pollingV5 ? WEBHOOK_FALLBACK_POLLING : WEBHOOK_FALLBACK_POLLING_V4;
      while (!isTerminal(current!.status)) {
        if (pollsThisRun >= maxPollsPerRun || workflowInfo().continueAsNewSuggested) {
          log.info(`${kind} ${current!.id}: continuing as new after ${state.polls} polls`, {
            predictionId: current!.id,
            historyLength: workflowInfo().historyLength,
          });
          const carried = pendingNews();
          const next = {
            ...request,
            resume: {
              job: current!,
              polls: state.polls,
              startedAt: state.startedAt,
              runs: state.runs,
              ...(v6 ? { webhook: webhookMode, ...(carried ? { news: carried } : {}) } : {}),
            },
          };
          // (continueAsNew throws; the catch below lets it through untouched)
          return kind === 'training'
            ? await continueAsNew<typeof runTraining>(next as TrainingRequest)
            : await continueAsNew<typeof runPrediction>(next as PredictionRequest);
        }
        if (newsFromWebhook()) {
          const n = pendingNews()!;
          if (v6 && n.outputOmitted) {
            // too large to travel in a signal: the GET below stores it out of band
            news.delete(n.id);
            pollNow = true;
          } else {
            observe(n); // the webhook told us first: no GET needed
            continue;
          }
        }
        if (!pollNow) {
          const wait = Math.max(pollDelayMs(state.polls, polling), minNextWaitMs);
          state.nextPollAt = new Date(Date.now() + wait).toISOString();
          // A durable timer, cut short by a webhook with news.
          const woken = await condition(newsFromWebhook, wait, {
            summary: `wait ${humanDuration(wait)} before poll ${state.polls + 1}`,
          });
          state.nextPollAt = null;
          if (woken) continue;
        }
        pollNow = false;
        minNextWaitMs = 0;
        state.polls += 1;
        pollsThisRun += 1;
        if (!v6) {
          observe(await getPrediction(current!.id, state.polls));
          continue;
        }
        try {
          observe(await getPrediction(current!.id, state.polls));
          state.pollError = null;
        } catch (error) {
          const transient = transientPollFailure(error);
          if (transient === undefined) throw error;
          // The job is still running at Replicate as far as we know: record the failure and poll again later.
          minNextWaitMs = transient.retryAfterMs ?? 0;
          state.pollError = transient.message;
          log.warn(`poll ${state.polls} of ${kind} ${current!.id} failed; polling again later`, {
            predictionId: current!.id,
            reason: transient.message,
            retryAfterMs: transient.retryAfterMs,
          });
          setCurrentDetails(currentDetails(state));
        }
      }
      return finish(kind, current!, state, adopted);
    });
  } catch (error) {
    if (isContinueAsNew(error)) throw error;
    state.nextPollAt = null;
    if (current !== undefined && !isTerminal(current.status)) {
      await cancelRemotely(kind, current.id, cancelPrediction, observe);
    }
    state.completedAt = new Date().toISOString();
    if (isCancellation(error)) {
      if (CancellationScope.current().consideredCancelled) {
        log.info('workflow canceled by the user', { predictionId: state.predictionId });
        throw error;
      }
      const message = `${kind} ${state.predictionId ?? '(not created)'} did not finish before the deadline ${state.deadline} (${humanDuration(deadline - firstStart)} after the start); it was canceled at Replicate`;
      log.warn(message, { predictionId: state.predictionId });
      state.error = message;
      throw ApplicationFailure.create({
        type: PredictionFailureType.TimedOut,
        message,
        nonRetryable: true,
        details: [failureDetails(state, current)],
      });
    }
    throw surface(error, state);
  }
}

/** At most this many jobs' webhook news is buffered before the create returns (only our own job's is used). */
const MAX_PENDING_NEWS = 8;

const TRANSIENT_TYPES: string[] = Object.values(ReplicateTransientType);

/**
 * A poll that failed for a reason that waiting can fix (5xx, network, timeout, 429), with the 429's Retry-After;
 * undefined for anything else (401, 403, 404, ...: the run fails as before).
 */
function transientPollFailure(error: unknown): { message: string; retryAfterMs?: number } | undefined {
  // A regular activity's failure is an ActivityFailure around the cause; a local activity's may be the cause itself.
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof TimeoutFailure) return { message: `no answer in time (${cause.message})` };
  if (!(cause instanceof ApplicationFailure) || cause.nonRetryable) return undefined;
  if (cause.type !== null && cause.type !== undefined && !TRANSIENT_TYPES.includes(cause.type))
    return undefined;
  const details = cause.details?.[0] as { retryAfterMs?: unknown } | undefined;
  const retryAfterMs = typeof details?.retryAfterMs === 'number' ? details.retryAfterMs : undefined;
  return { message: cause.message, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
}

/** Markdown for the Temporal UI's "current details": where the run stands now. */
function currentDetails(state: PredictionState): string {
  const elapsed = humanDuration(Date.now() - Date.parse(state.startedAt));
  const link = state.webUrl ? ` · [open on Replicate](${state.webUrl})` : '';
  const lines = [
    `**${state.status}** · ${state.kind} \`${state.predictionId ?? '…'}\` · ${state.polls} poll${state.polls === 1 ? '' : 's'} · ${elapsed}${link}`,
  ];
  if (state.error) lines.push('', `error: ${state.error}`);
  if (state.pollError) lines.push('', `last poll failed (polling again): ${state.pollError}`);
  if (state.logsTail.length > 0) lines.push('', '```', ...state.logsTail.slice(-5), '```');
  return lines.join('\n');
}

function isContinueAsNew(error: unknown): boolean {
  return error instanceof ContinueAsNew;
}

/** Turn a terminal snapshot into the result, or into the typed failure for its status. */
function finish(
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
  log.warn(message, { predictionId: p.id, status: p.status });
  throw ApplicationFailure.create({ type, message, nonRetryable: true, details: [failureDetails(state, p)] });
}

async function cancelRemotely(
  kind: JobKind,
  id: string,
  cancelPrediction: Activities['cancelPrediction'],
  observe: (p: PredictionSnapshot) => void,
): Promise<void> {
  try {
    observe(await CancellationScope.nonCancellable(() => cancelPrediction(id, kind)));
  } catch (error) {
    // Replicate's Cancel-After still stops it at the ceiling; report and keep the original error.
    log.error(`could not cancel ${kind} ${id}; Replicate's Cancel-After will stop it`, {
      predictionId: id,
      error: String(error),
    });
  }
}

/** Surface an activity's typed failure as the workflow's own failure, so the UI shows the reason first. */
function surface(error: unknown, state: PredictionState): unknown {
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

function failureDetails(state: PredictionState, p: PredictionSnapshot | undefined): PredictionFailureDetails {
  return {
    predictionId: state.predictionId,
    status: p?.status ?? state.status,
    error: p?.error ?? state.error,
    logsTail: p?.logsTail ?? state.logsTail,
    metrics: p?.metrics,
  };
}
