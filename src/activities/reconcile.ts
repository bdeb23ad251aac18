/**
 * Activities of the orphan reconciler: which Replicate jobs did this system create (ours, else foreign: never
 * touched), and which do open runs own or may still adopt (owned, waiting: never canceled)? The rule:
 * docs/architecture.md, "The orphan reconciler".
 */
import { WorkflowNotFoundError, type Client, type WorkflowExecutionInfo } from '@temporalio/client';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import type { temporal } from '@temporalio/proto';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { CLOCK_SKEW_MS, madeBy, type RecordedCreate } from '../shared/adopt';
import { isCreateTarget, parseModelRef } from '../shared/model-ref';
import { claimWorkflowId, type JobClaim } from '../shared/ownership';
import type { JobKind, PredictionRequest, PredictionState, TrainingRequest } from '../shared/types';
import { DEFAULT_CEILING_MS } from '../shared/ceiling';
import { DEFAULT_HTTP_TIMEOUTS } from './context';
import { inputDigest, type JobSummary } from './list';

export interface JobClassification {
  /** claimed by a run that is still open */
  owned: string[];
  /** ours (claimed by a run that has ended, or unclaimed and made by a run that has ended): to cancel */
  orphans: string[];
  /** unclaimed, made by a run that is still open (it may yet claim it): left alone */
  waiting: string[];
  /** not created by this system (no run of ours recorded such a create): never touched */
  foreign: string[];
}

interface Run {
  info: WorkflowExecutionInfo;
  kind: JobKind;
  /** null when its request does not describe a create (invalid, unreadable) */
  create: RecordedCreate | null;
}

const RUN_TYPES = { runPrediction: 'prediction', runTraining: 'training' } as const;
/** the first events of a run's history read for its request and its create's completion */
const HISTORY_PAGE = 100;
const CREATE_ACTIVITIES = new Set(['createPrediction', 'createTraining']);
const GRPC_NOT_FOUND = 5;
/** how long one `status` query may take; a run that does not answer in time may still claim */
const QUERY_TIMEOUT_MS = 5_000;
const CONCURRENCY = 8;
const MAX_CACHED_RUNS = 20_000;

export function createReconcileActivities(temporal: { client: Client; createTimeoutMs?: number }) {
  const { client } = temporal;
  const attemptTimeoutMs = temporal.createTimeoutMs ?? DEFAULT_HTTP_TIMEOUTS.createMs;
  /** runId -> the create it recorded (a run's first event never changes), and whether its window is closed */
  const recorded = new Map<string, { create: RecordedCreate; createDone: boolean } | null>();

  async function recordedCreate(info: WorkflowExecutionInfo, kind: JobKind): Promise<RecordedCreate | null> {
    const cached = recorded.get(info.runId);
    if (cached !== undefined) {
      if (cached?.createDone) return cached.create; // its create window is closed: it never changes
      if (cached && info.closeTime) return { ...cached.create, untilMs: untilOf(info) }; // closed since cached
      if (cached === null) return null;
    }
    const { history } = await client.workflowService.getWorkflowExecutionHistory({
      namespace: client.options.namespace,
      execution: { workflowId: info.workflowId, runId: info.runId },
      maximumPageSize: HISTORY_PAGE,
    });
    const first = history?.events?.[0];
    const started = first?.workflowExecutionStartedEventAttributes;
    let create: RecordedCreate | null = null;
    let createDoneMs: number | undefined;
    if (started) {
      const request = await decodeFromPayloadsAtIndex<PredictionRequest | TrainingRequest>(
        client.options.loadedDataConverter,
        0,
        started.input?.payloads,
      ).catch(() => undefined);
      const target =
        request && typeof request.model === 'string'
          ? parseModelRef(
              request.model,
              kind === 'prediction' && (request as PredictionRequest).deployment === true,
            )
          : undefined;
      if (request && target && isCreateTarget(target)) {
        // The chain's first start: a continued run carries it in `resume`.
        const resumedFrom = request.resume ? Date.parse(request.resume.startedAt) : NaN;
        const firstStart = Number.isFinite(resumedFrom) ? resumedFrom : info.startTime.getTime();
        // The instant every create of the run aims Cancel-After at (as the workflow computes its ceiling).
        const expiration = optionalTsToMs(started.workflowExecutionExpirationTime);
        const cancelAtMs = expiration ? expiration : firstStart + DEFAULT_CEILING_MS;
        // The create's window ends when its activity completed (a continued run: when its job was created),
        // not when the run ends: a job with the same input made later by someone else is not this run's.
        createDoneMs = request.resume
          ? Date.parse(request.resume.job.createdAt ?? '') || undefined
          : createCompletedAtMs(history?.events ?? []);
        create = {
          target,
          inputKey: inputDigest(request.input),
          cancelAtMs,
          fromMs: firstStart - CLOCK_SKEW_MS,
          untilMs:
            createDoneMs === undefined ? untilOf(info) : createDoneMs + attemptTimeoutMs + CLOCK_SKEW_MS,
          attemptTimeoutMs,
          workflowId: info.workflowId,
        };
      }
    }
    if (recorded.size >= MAX_CACHED_RUNS) recorded.delete(recorded.keys().next().value!);
    recorded.set(info.runId, create && { create, createDone: createDoneMs !== undefined });
    return create;
  }

  /** A run's create may be committed up to one attempt timeout after its last moment (plus the clocks' skew). */
  function untilOf(info: WorkflowExecutionInfo): number {
    return (info.closeTime?.getTime() ?? Date.now()) + attemptTimeoutMs + CLOCK_SKEW_MS;
  }

  /** Our runs that may have created a job at or after `sinceMs`: open ones, and those closed since. */
  async function listRuns(sinceMs: number): Promise<Run[]> {
    const infos: WorkflowExecutionInfo[] = [];
    const query = `WorkflowType IN ('runPrediction', 'runTraining') AND (ExecutionStatus = 'Running' OR CloseTime >= '${new Date(sinceMs).toISOString()}')`;
    for await (const info of client.workflow.list({ query })) infos.push(info);
    return mapLimit(infos, CONCURRENCY, async (info) => {
      const kind = RUN_TYPES[info.type as keyof typeof RUN_TYPES];
      return { info, kind, create: await recordedCreate(info, kind) };
    });
  }

  /**
   * Who owns a job, proven by its claim (src/workflows/claim.ts): the claiming run's workflow id and whether it is
   * still open; undefined when no run ever claimed it. Reads Temporal by workflow id: strongly consistent.
   */
  async function claimOf(jobId: string): Promise<{ owner: string; open: boolean } | undefined> {
    const claim = client.workflow.getHandle(claimWorkflowId(jobId));
    let first: temporal.api.history.v1.IHistoryEvent | undefined;
    try {
      const { history } = await client.workflowService.getWorkflowExecutionHistory({
        namespace: client.options.namespace,
        execution: { workflowId: claim.workflowId },
        maximumPageSize: 1,
      });
      first = history?.events?.[0];
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    const started = first?.workflowExecutionStartedEventAttributes;
    const args = await decodeFromPayloadsAtIndex<JobClaim>(
      client.options.loadedDataConverter,
      0,
      started?.input?.payloads,
    );
    const owner = await client.workflow
      .getHandle(args.owner)
      .describe()
      .then(
        (d) => d.status.name === 'RUNNING',
        (error: unknown) => {
          if (isNotFound(error)) return false;
          throw error;
        },
      );
    return { owner: args.owner, open: owner };
  }

  /** Whether one of these open runs may still claim a job: it is still creating, or its late-commit watch runs. */
  const mayClaim = new Map<string, Promise<boolean>>();
  function anyMayClaim(openRuns: Run[]): Promise<boolean> {
    return mapLimit(openRuns, CONCURRENCY, (run) => {
      const key = run.info.runId;
      if (!mayClaim.has(key)) mayClaim.set(key, runMayClaim(run));
      return mayClaim.get(key)!;
    }).then((answers) => answers.some(Boolean));
  }
  async function runMayClaim(run: Run): Promise<boolean> {
    const watch = client.workflow.getHandle(
      `replicate-late-commits:${run.info.workflowId}:${run.info.runId}`,
    );
    const watching = await watch.describe().then(
      (d) => d.status.name === 'RUNNING',
      () => false,
    );
    if (watching) return true;
    try {
      const state = await client.withDeadline(Date.now() + QUERY_TIMEOUT_MS, () =>
        client.workflow.getHandle(run.info.workflowId, run.info.runId).query<PredictionState>('status'),
      );
      return state.status === 'creating';
    } catch {
      return true; // cannot tell: leave the job alone
    }
  }

  return {
    /**
     * Sort running jobs into owned, orphans, waiting and foreign. A claimed job is ours (only our runs claim):
     * owned while its claiming run is open, else an orphan. An unclaimed one is ours when it matches a create
     * recorded by one of our runs (src/shared/adopt.ts, matchBasis: by webhook URL or deadline when echoed, else
     * model, input and window): waiting while such a run may still claim it (it is still creating, or its
     * late-commit watch runs), else an orphan. Anything else is foreign and never touched.
     */
    async classifyJobs(jobs: JobSummary[]): Promise<JobClassification> {
      const result: JobClassification = { owned: [], orphans: [], waiting: [], foreign: [] };
      if (jobs.length === 0) return result;
      const claims = await mapLimit(jobs, CONCURRENCY, (job) => claimOf(job.id));
      const unclaimed = jobs.filter((_job, i) => claims[i] === undefined);
      const earliest = Math.min(...unclaimed.map((j) => Date.parse(j.createdAt)));
      const runs = unclaimed.length > 0 ? await listRuns(earliest - attemptTimeoutMs - CLOCK_SKEW_MS) : [];

      for (const [i, job] of jobs.entries()) {
        const claim = claims[i];
        if (claim) {
          (claim.open ? result.owned : result.orphans).push(job.id);
          continue;
        }
        // A job made on the web is never ours, whatever else matches.
        const facts = {
          created_at: job.createdAt,
          model: job.model,
          version: job.version ?? null,
          deployment: job.deployment ?? null,
          deadline: job.deadline,
          webhook: job.webhook ?? null,
          inputKey: job.inputDigest ?? '',
        };
        const matches =
          job.source === 'web'
            ? []
            : runs.filter((run) => run.create && run.kind === job.kind && madeBy(facts, run.create));
        if (matches.length === 0) result.foreign.push(job.id);
        else if (await anyMayClaim(matches.filter((run) => run.info.status.name === 'RUNNING')))
          result.waiting.push(job.id);
        else result.orphans.push(job.id);
      }
      return result;
    },
  };
}

function isNotFound(error: unknown): boolean {
  return (
    error instanceof WorkflowNotFoundError ||
    (error as { code?: number })?.code === GRPC_NOT_FOUND ||
    (error as { cause?: { code?: number } })?.cause?.code === GRPC_NOT_FOUND
  );
}

/** When the run's create activity completed (ms), if these first events of its history show it. */
export function createCompletedAtMs(events: temporal.api.history.v1.IHistoryEvent[]): number | undefined {
  const creates = new Set<string>();
  for (const event of events) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled && CREATE_ACTIVITIES.has(scheduled.activityType?.name ?? ''))
      creates.add(String(event.eventId));
    const completed = event.activityTaskCompletedEventAttributes;
    if (completed && creates.has(String(completed.scheduledEventId))) return optionalTsToMs(event.eventTime);
  }
  return undefined;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export type ReconcileActivities = ReturnType<typeof createReconcileActivities>;
