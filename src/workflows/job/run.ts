/**
 * One job run, in named phases: `createOrAdopt`, then `waitForNews` until the job is terminal (continuing as new
 * when the history grows), then `finish`; `cleanUp` on any early end. `runJob` in ../prediction.ts strings them
 * together. The phases keep the exact order of commands of the earlier single function, so old histories replay.
 * Deterministic code only: no Node built-ins, no I/O; activities are imported as types. About 400 lines: one
 * class, because the phases share the run's state (the job, the news, the status query's view).
 */
import {
  ApplicationFailure,
  CancellationScope,
  ContinueAsNew,
  continueAsNew,
  condition,
  isCancellation,
  log,
  ParentClosePolicy,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { humanDuration } from '../../shared/duration';
import { PredictionFailureType } from '../../shared/failures';
import { ReplicateModel, ReplicatePredictionId, ReplicateStatus } from '../../shared/search-attributes';
import {
  isTerminal,
  type JobKind,
  type PollingOptions,
  type PredictionRequest,
  type PredictionResult,
  type PredictionSnapshot,
  type PredictionState,
  type TrainingRequest,
} from '../../shared/types';
import { statusQuery, webhookSignal } from '../messages';
import { JobBudget } from './budget';
import { JobSlot } from './slot';
import { RunMetrics } from './metrics';
import { currentDetails, failureDetails, finish, surface, timedOut, transientPollFailure } from './outcome';
import { DEFAULT_CEILING_MS, MIN_RUN_MS, defaultDeadlineMarginMs } from '../../shared/ceiling';
import {
  DEFAULT_MAX_POLLS_PER_RUN,
  WEBHOOK_FALLBACK_POLLING,
  pollDelayMs,
  withPollingDefaults,
} from '../../shared/polling';
import {
  afterPoll,
  planPoll,
  replicateClock,
  withProgress,
  type PollPlan,
} from '../../shared/predictive-polling';
import { parseProgress } from '../../shared/progress';
import type { SlotNeeded } from '../../shared/slots';
import { watchLateCommits } from '../late-commits';
import {
  LATE_COMMIT_WATCH,
  cancelOptions,
  createOptions,
  findOwnJobsOptions,
  getOptions,
  localGetOptions,
} from '../retry-policies';
import { CreateAttempts } from './create';
import { restoreRun, resumeOf, type RunMemory } from './resume';

type JobRequest = PredictionRequest | TrainingRequest;

/** At most this many jobs' webhook news is buffered before the create returns (only our own job's is used). */
const MAX_PENDING_NEWS = 8;

/**
 * Order of statuses: a webhook never moves a run backwards (deliveries can be duplicated or reordered). A status
 * we do not know (Replicate may add one) ranks below all: it never hides a later end.
 */
function progressRank(status: PredictionSnapshot['status']): number {
  if (isTerminal(status)) return 2;
  return status === 'processing' ? 1 : status === 'starting' ? 0 : -1;
}

export class JobRun {
  readonly state: PredictionState;
  /** when the first run of the chain started, our deadline and Replicate's (Cancel-After), ms */
  readonly firstStart: number;
  readonly deadline: number;
  private readonly ceiling: number;
  private readonly margin: number;
  private polling: Required<PollingOptions>;
  private readonly maxPollsPerRun: number;
  private readonly useSearchAttributes: boolean;
  /** the job this run follows */
  private current: PredictionSnapshot | undefined;
  private pollsThisRun = 0;
  /** the most advanced news per job id, so news about another prediction can never hide our own */
  private readonly news = new Map<string, PredictionSnapshot>();
  /**
   * what the run remembers and continue-as-new carries (./resume.ts): adopted, webhook mode (decided by the create;
   * poll snapshots do not say), the next poll's minimum wait (a failed poll's Retry-After), an immediate poll owed
   * (a webhook too large to signal), the last poll error, the start reported to the pipeline, the reads queue
   * (src/worker/flow-control.ts; null = local polls), what predictive polling knows (the model's timing, the job's
   * progress, the polls past its expected end)
   */
  private readonly m: RunMemory;
  /** the slot of a limited model (waited for before the create, released at the end) */
  private readonly slot: JobSlot;
  /** replicate_predictions_total at the end, predict time, completion lag */
  private readonly metrics: RunMetrics;
  /** the run's maxCostUsd and/or its pipeline parent's budget clock; undefined without either */
  private readonly budget: JobBudget | undefined;
  private readonly activities: { cancelPrediction: Activities['cancelPrediction'] };
  /** the create phase: attempts, adoption of a lost attempt's job, claims (./create.ts) */
  private readonly attempts: CreateAttempts;
  /** the late-commit watch was started (once per run) */
  private watchStarted = false;

  constructor(
    private readonly kind: JobKind,
    private readonly request: JobRequest,
  ) {
    const info = workflowInfo();
    const resume = request.resume;
    this.firstStart = resume ? Date.parse(resume.startedAt) : info.startTime.getTime();
    this.ceiling = info.executionExpirationTime?.getTime() ?? this.firstStart + DEFAULT_CEILING_MS;
    this.margin = request.deadlineMarginMs ?? defaultDeadlineMarginMs(this.ceiling - this.firstStart);
    this.deadline = this.ceiling - this.margin;
    this.polling = withPollingDefaults(request.polling);
    this.maxPollsPerRun = request.maxPollsPerRun ?? DEFAULT_MAX_POLLS_PER_RUN;
    this.metrics = new RunMetrics(request.model);
    this.useSearchAttributes = request.searchAttributes !== false;
    this.m = restoreRun(resume);
    this.current = resume?.job;
    this.state = {
      kind,
      model: request.model,
      predictionId: resume?.job.id ?? null,
      status: resume?.job.status ?? 'creating',
      polls: resume?.polls ?? 0,
      nextPollAt: null,
      startedAt: new Date(this.firstStart).toISOString(),
      completedAt: null,
      deadline: new Date(this.deadline).toISOString(),
      logsTail: resume?.job.logsTail ?? [],
      error: null,
      webUrl: resume?.job.urls.web ?? null,
      runs: (resume?.runs ?? 0) + 1,
      pollError: this.m.pollError,
    };
    setHandler(statusQuery, () => this.state);
    this.slot = new JobSlot(kind, request, this.state, resume?.slot ?? undefined);
    if (resume?.news) this.news.set(resume.news.id, resume.news);
    setHandler(webhookSignal, (snapshot) => this.onWebhook(snapshot));

    if (!resume && this.deadline - Date.now() < MIN_RUN_MS) {
      throw ApplicationFailure.create({
        type: PredictionFailureType.InvalidRequest,
        message: `the workflow execution timeout leaves ${Math.max(0, this.deadline - Date.now())} ms before the deadline (margin ${this.margin} ms); start it with a longer timeout`,
        nonRetryable: true,
      });
    }
    if (this.useSearchAttributes && !resume)
      upsertSearchAttributes([{ key: ReplicateModel, value: request.model }]);

    const { cancelPrediction } = proxyActivities<Activities>({
      ...cancelOptions,
      summary: `cancel ${kind} at Replicate`,
    });
    this.activities = { cancelPrediction };
    this.attempts = new CreateAttempts(kind, request, info.workflowId, {
      create: (checkConcurrency, requestedAt) => this.createOnce(checkConcurrency, requestedAt),
      findOwnJobs: (since, exclude) =>
        proxyActivities<Activities>({
          ...findOwnJobsOptions,
          summary: `look for the ${kind} a lost create attempt made`,
        }).findOwnJobs({ ...this.jobRequest(), kind, since, exclude }),
    });
    this.budget = JobBudget.of(request, this.m.startReported);
    this.state.budget = this.budget?.view(this.current);
  }

  /** Time left before our deadline, ms. */
  msUntilDeadline(): number {
    return this.deadline - Date.now();
  }

  isDone(): boolean {
    return isTerminal(this.current!.status);
  }

  // ---------------------------------------------------------------- phase 1: create or adopt

  /**
   * Create the job and claim it, or adopt and claim the job a lost attempt made (./create.ts), unless resuming. A
   * limited model waits for a slot first (./slot.ts); checkConcurrency costs an unlimited one nothing.
   */
  async createOrAdopt(): Promise<void> {
    if (this.current === undefined) {
      const created = await this.slot.create(
        (check) => this.attempts.run(check),
        this.firstStart,
        this.deadline,
      );
      const { timing, ...job } = created;
      this.observe(job);
      this.m.predictive = {
        ...this.m.predictive,
        timing: timing ?? null,
        // Replicate's timestamps on its own clock: the skew from this fresh create's created_at
        replicateAheadMs: this.m.adopted ? 0 : replicateClock(job.createdAt, Date.now()),
      };
      await this.watchLateCommits();
    }
    if (this.m.readsTaskQueue === null && this.current!.readsTaskQueue) {
      this.m.readsTaskQueue = this.current!.readsTaskQueue;
      this.m.localReads = this.current!.localReads === true;
    }
    if (this.current!.webhook) this.m.webhook = true;
    // with webhooks, polling is only their fallback: its own schedule, never predictive
    if (this.m.webhook)
      this.polling =
        this.request.polling === undefined
          ? WEBHOOK_FALLBACK_POLLING
          : { ...this.polling, predictive: false };
  }

  /** What every create attempt and search sends: the model, the input and Cancel-After's target. */
  private jobRequest() {
    return {
      model: this.request.model,
      deployment: (this.request as PredictionRequest).deployment,
      input: this.request.input,
      cancelAt: new Date(this.ceiling).toISOString(),
    };
  }

  /** One create attempt: one activity execution, one POST. */
  private createOnce(
    checkConcurrency: boolean,
    requestedAt: string,
  ): Promise<PredictionSnapshot | SlotNeeded> {
    const { createPrediction, createTraining } = proxyActivities<Activities>({
      ...createOptions,
      // nothing is sent past our deadline
      scheduleToCloseTimeout: Math.max(1_000, this.deadline - Date.now()),
      summary: `create ${this.kind} for ${this.request.model}`,
    });
    const { deployment, ...args } = { ...this.jobRequest(), requestedAt };
    // Non-cancellable: a create already on the wire must finish so we learn the id and can cancel it.
    return CancellationScope.nonCancellable(() =>
      this.kind === 'training'
        ? createTraining({ ...args, destination: (this.request as TrainingRequest).destination })
        : createPrediction({ ...args, deployment, ...(checkConcurrency ? this.concurrencyQuestion() : {}) }),
    );
  }

  /** Asked with a create: wait for a slot if the worker limits this model, or under the request's own limit. */
  private concurrencyQuestion(): { checkConcurrency: true; concurrencyLimit?: number } {
    const own = (this.request as PredictionRequest).concurrencyLimit;
    return { checkConcurrency: true, ...(own !== undefined ? { concurrencyLimit: own } : {}) };
  }

  /**
   * After an attempt that may have committed, Replicate may still commit it later: a watch (../late-commits.ts, a
   * child that outlives this run) claims and cancels any such job for a while. Started once, when the run has its
   * job or ends without one.
   */
  private async watchLateCommits(): Promise<void> {
    const uncertain = this.attempts.uncertain;
    if (uncertain === undefined || this.watchStarted) return;
    this.watchStarted = true;
    const info = workflowInfo();
    await CancellationScope.nonCancellable(() =>
      startChild(watchLateCommits, {
        workflowId: `replicate-late-commits:${info.workflowId}:${info.runId}`,
        args: [
          {
            ...this.jobRequest(),
            kind: this.kind,
            owner: info.workflowId,
            keep: this.current?.id ?? null,
            since: new Date(uncertain.sinceMs).toISOString(),
            until: new Date(
              uncertain.lastMs + (this.request.lateCommitWindowMs ?? LATE_COMMIT_WATCH.windowMs),
            ).toISOString(),
            ...(this.m.readsTaskQueue ? { readsTaskQueue: this.m.readsTaskQueue } : {}),
          },
        ],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        staticSummary: `cancel late commits of ${info.workflowId}'s create (${this.request.model})`,
      }),
    );
  }

  // ---------------------------------------------------------------- phase 2: wait for news

  /** Continue as new (throws ContinueAsNew) when this run has polled enough or Temporal suggests it. */
  async continueAsNewIfDue(): Promise<void> {
    if (this.pollsThisRun < this.maxPollsPerRun && !workflowInfo().continueAsNewSuggested) return;
    const current = this.current!;
    log.info(`${this.kind} ${current.id}: continuing as new after ${this.state.polls} polls`, {
      predictionId: current.id,
      historyLength: workflowInfo().historyLength,
    });
    const progress = {
      job: current,
      polls: this.state.polls,
      startedAt: this.state.startedAt,
      runs: this.state.runs,
      news: this.pendingNews() ?? null,
      slot: this.slot.held() ?? null,
    };
    const memory = {
      ...this.m,
      pollError: this.state.pollError ?? null,
      startReported: this.budget?.startReported ?? this.m.startReported,
    };
    const next = { ...this.request, resume: resumeOf(progress, memory) };
    this.slot.carriedOver = true;
    await continueAsNew(next);
  }

  /**
   * One step of the wait: take webhook news if there is some, else sleep the backoff interval on a durable timer
   * (cut short by webhook news) and poll. A transient poll failure is recorded and waited out.
   */
  async waitForNews(): Promise<void> {
    if (this.newsFromWebhook()) {
      const n = this.pendingNews()!;
      if (n.outputOmitted) {
        // too large to travel in a signal: the GET below stores it out of band
        this.news.delete(n.id);
        this.m.pollNow = true;
      } else {
        this.metrics.source = 'webhook';
        this.observe(n); // the webhook told us first: no GET needed
        return;
      }
    }
    if (this.budget) {
      await this.budget.reportStart(this.current!);
      if (this.budget.crossed(this.current!)) return this.stopForBudget(this.budget);
    }
    const plan = this.planPoll();
    if (!this.m.pollNow) {
      const backoff = Math.max(plan.waitMs, this.m.nextPollAtLeastMs);
      // wake at the projected crossing when it comes first (then the next round cancels)
      const wait = Math.min(backoff, this.budget?.msUntilCrossing(this.current!) ?? Infinity);
      this.state.nextPollAt = new Date(Date.now() + wait).toISOString();
      const woken = await condition(() => this.newsFromWebhook(), wait, {
        summary:
          wait < backoff
            ? `wait ${humanDuration(wait)} until the budget is reached`
            : `wait ${humanDuration(wait)} before poll ${this.state.polls + 1}${plan.why === 'backoff' ? '' : ` (${plan.why})`}`,
      });
      this.state.nextPollAt = null;
      if (woken || wait < backoff) return;
    }
    await this.poll(plan);
  }

  /**
   * When to poll next: the backoff, or with predictive polling (the default without webhooks) around the job's
   * expected end (../../shared/predictive-polling.ts), from what the create and the polls so far said.
   */
  private planPoll(): PollPlan {
    if (!this.polling.predictive)
      return {
        waitMs: pollDelayMs(this.state.polls, this.polling),
        pastEnd: false,
        expectedEndMs: null,
        why: 'backoff',
      };
    return planPoll({
      nowMs: Date.now(),
      sinceMs: this.firstStart,
      polls: this.state.polls,
      polling: this.polling,
      job: this.current!,
      memory: this.m.predictive,
      needsStart: this.budget !== undefined,
    });
  }

  private async poll(plan: PollPlan): Promise<void> {
    this.metrics.source = 'poll';
    this.m.pollNow = false;
    this.m.nextPollAtLeastMs = 0;
    this.state.polls += 1;
    this.pollsThisRun += 1;
    if (this.polling.predictive) this.m.predictive = afterPoll(this.m.predictive, plan);
    const id = this.current!.id;
    try {
      const seen = await this.getPrediction(id, this.state.polls);
      this.observe(seen);
      if (this.polling.predictive && seen.status === 'processing') {
        const progress = withProgress(this.m.predictive.progress, parseProgress(seen.logsTail), Date.now());
        this.m.predictive = { ...this.m.predictive, progress };
      }
      this.state.pollError = null;
    } catch (error) {
      const transient = transientPollFailure(error);
      if (transient === undefined) throw error;
      // The job is still running at Replicate as far as we know: record the failure and poll again later.
      this.m.nextPollAtLeastMs = transient.retryAfterMs ?? 0;
      this.state.pollError = transient.message;
      log.warn(`poll ${this.state.polls} of ${this.kind} ${id} failed; polling again later`, {
        predictionId: id,
        reason: transient.message,
        retryAfterMs: transient.retryAfterMs,
      });
      setCurrentDetails(currentDetails(this.state));
    }
  }

  /**
   * One GET: a local activity; with the fleet's reads budget, a local one within the worker's share of it (waiting
   * for the share when it is spent), or a regular activity on the rate-limited reads queue when the worker cannot
   * tell its share (src/worker/flow-control.ts).
   */
  private async getPrediction(id: string, poll: number): Promise<PredictionSnapshot> {
    // each poll may retry until the deadline
    const scheduleToCloseTimeout = Math.max(1_000, this.deadline - Date.now());
    const summary = `poll ${poll}: get ${this.kind} ${id}`;
    const options = { ...getOptions, scheduleToCloseTimeout, summary };
    const local = { ...localGetOptions, scheduleToCloseTimeout, summary };
    if (this.m.readsTaskQueue === null)
      return proxyLocalActivities<Activities>(local).getPrediction(id, this.kind);
    if (this.m.localReads) {
      // within the worker's share of the reads budget: read now, or wait for the share (src/worker/read-share.ts)
      let reserved = false;
      for (;;) {
        const answer: PredictionSnapshot | { waitMs: number; reserved: boolean } | null =
          await proxyLocalActivities<Activities>(local).tryGetPrediction(id, this.kind, reserved);
        if (answer === null) break;
        if (!('waitMs' in answer)) return answer;
        reserved = answer.reserved;
        await sleep(answer.waitMs, {
          summary: `poll ${poll}: wait ${humanDuration(answer.waitMs)} for the fleet's read budget`,
        });
      }
    }
    return proxyActivities<Activities>({
      ...options,
      taskQueue: this.m.readsTaskQueue,
      summary: `poll ${poll} on the reads queue: get ${this.kind} ${id}`,
    }).getPrediction(id, this.kind);
  }

  // ---------------------------------------------------------------- phase 3: finish

  /** The result, or the typed failure for the terminal status. */
  finish(): PredictionResult {
    this.metrics.ended(this.current!);
    return finish(this.kind, this.current!, this.state, this.m.adopted);
  }

  // ---------------------------------------------------------------- phase 4: clean up

  /**
   * After an early end (deadline, a user's or the parent's cancel, a non-retryable error): cancel the job at
   * Replicate if it still runs. Replicate answers a cancel with the job as it is (§1): one that had already ended on
   * its own keeps its real outcome, its result returned although the run was asked to stop (it is paid for), or its
   * failure as failed. Otherwise the error to throw (continue-as-new passes through untouched).
   */
  async cleanUp(error: unknown): Promise<{ result: PredictionResult } | { error: unknown }> {
    if (error instanceof ContinueAsNew) return { error };
    this.state.nextPollAt = null;
    const current = this.current;
    if (current !== undefined && !isTerminal(current.status)) {
      await this.cancelRemotely(current.id);
      if (this.endedOnItsOwn()) {
        await this.watchLateCommits(); // a lost attempt's job may still appear
        log.info(
          `${this.kind} ${current.id} had already ended (${this.current!.status}) when it was canceled`,
          {
            predictionId: current.id,
          },
        );
        try {
          return { result: this.finish() };
        } catch (failure) {
          return { error: failure };
        }
      }
    }
    await this.watchLateCommits(); // a lost attempt's job may still appear
    this.state.completedAt = new Date().toISOString();
    this.metrics.endedEarly(error);
    if (isCancellation(error)) {
      if (CancellationScope.current().consideredCancelled) {
        log.info('workflow canceled by the user', { predictionId: this.state.predictionId });
        return { error };
      }
      return { error: timedOut(this.kind, this.state, this.current, this.deadline - this.firstStart) };
    }
    return { error: surface(error, this.state) };
  }

  /** The job is terminal, and not because we canceled it. */
  private endedOnItsOwn(): boolean {
    return this.isDone() && this.current!.status !== 'canceled';
  }

  /**
   * The job's cost reached maxCostUsd: cancel it at Replicate and fail with BudgetExceeded (the spend
   * measured at the crossing, the canceled job's predict_time in the details). A job that ended meanwhile keeps
   * its own outcome.
   */
  private async stopForBudget(budget: JobBudget): Promise<void> {
    const { message, budget: details } = budget.exceeded(this.kind, this.current!);
    await this.cancelRemotely(this.current!.id);
    if (this.endedOnItsOwn()) return; // `finish` takes its real outcome
    this.state.error = message;
    throw JobBudget.failure(message, { ...failureDetails(this.state, this.current), budget: details });
  }

  /** Give the slot back (or leave the queue) at the end, whatever the end. */
  releaseSlot(): Promise<void> {
    return this.slot.release();
  }

  private async cancelRemotely(id: string): Promise<void> {
    try {
      this.observe(await CancellationScope.nonCancellable(() => this.cancelActivity()(id, this.kind)));
    } catch (error) {
      // Replicate's Cancel-After still stops it at the ceiling; report and keep the original error.
      log.error(`could not cancel ${this.kind} ${id}; Replicate's Cancel-After will stop it`, {
        predictionId: id,
        error: String(error),
      });
    }
  }

  /** A cancel counts against the reads budget, on the reads queue when there is one. */
  private cancelActivity(): Activities['cancelPrediction'] {
    if (this.m.readsTaskQueue === null) return this.activities.cancelPrediction;
    return proxyActivities<Activities>({
      ...cancelOptions,
      taskQueue: this.m.readsTaskQueue,
      summary: `cancel ${this.kind} at Replicate`,
    }).cancelPrediction;
  }

  // ---------------------------------------------------------------- news and observations

  private onWebhook(snapshot: PredictionSnapshot): void {
    const current = this.current;
    if (current !== undefined && snapshot.id !== current.id) {
      log.warn(`ignored a webhook about ${this.kind} ${snapshot.id}: this run follows ${current.id}`, {
        predictionId: current.id,
        webhookPredictionId: snapshot.id,
      });
      return;
    }
    const known = this.news.get(snapshot.id);
    if (known === undefined || progressRank(snapshot.status) > progressRank(known.status)) {
      if (known === undefined && this.news.size >= MAX_PENDING_NEWS) return; // a flood of strangers before the create
      this.news.set(snapshot.id, snapshot);
    }
  }

  private pendingNews(): PredictionSnapshot | undefined {
    return this.current === undefined ? undefined : this.news.get(this.current.id);
  }

  private newsFromWebhook(): boolean {
    const n = this.pendingNews();
    const current = this.current;
    return (
      n !== undefined &&
      current !== undefined &&
      n.id === current.id &&
      progressRank(n.status) > progressRank(current.status)
    );
  }

  /** Take in a snapshot of the job: logs, search attributes, the status query, the UI's current details. */
  private observe(next: PredictionSnapshot): void {
    const current = this.current;
    if (current === undefined) {
      this.m.adopted = next.adopted === true;
      log.info(`${this.kind} ${next.id} ${this.m.adopted ? 'adopted' : 'created'}, status ${next.status}`, {
        predictionId: next.id,
        model: this.request.model,
        adopted: this.m.adopted,
      });
    } else if (current.status !== next.status) {
      log.info(`${this.kind} ${next.id}: ${current.status} -> ${next.status}`, {
        predictionId: next.id,
        model: this.request.model,
        from: current.status,
        to: next.status,
        polls: this.state.polls,
      });
    }
    if (this.useSearchAttributes && (current?.id !== next.id || current.status !== next.status)) {
      upsertSearchAttributes([
        { key: ReplicatePredictionId, value: next.id },
        { key: ReplicateStatus, value: next.status },
      ]);
    }
    this.current = next;
    const state = this.state;
    state.predictionId = next.id;
    state.status = next.status;
    state.logsTail = next.logsTail;
    state.error = next.error;
    state.webUrl = next.urls.web ?? null;
    if (this.budget) state.budget = this.budget.view(next);
    setCurrentDetails(currentDetails(state));
  }
}
