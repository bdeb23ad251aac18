/**
 * A pipeline as its page shows it (PipelineView), read from Temporal: its spec (the workflow's input, read once),
 * its report (the `progress` query while it runs; its result, or its failure's details, once it has closed), and
 * the live state of the running steps' child runs (their `status` query, at most MAX_CHILD_QUERIES per read).
 */
import { ApplicationFailure, WorkflowFailedError, type Client } from '@temporalio/client';
import type { WorkflowExecutionStatusName } from '@temporalio/client';
import { queuedLine } from '../../shared/slots';
import {
  stepDependencies,
  topologicalOrder,
  validatePipelineSpec,
  type PipelineSpec,
} from '../../shared/pipeline';
import type { PredictionState } from '../../shared/types';
import { progressQuery, statusQuery, type PipelineRequest, type PipelineResult } from '../../workflows';
import { followHistory, type Follow } from './follow';
import { CALL_TIMEOUT_MS, type TemporalReader } from './temporal';
import { failureOf, type FailureView } from './failure';

/** A fan-out child run of a running step, as its `status` query last answered. */
export interface ChildView {
  workflowId: string;
  status: string;
  predictionId: string | null;
  /** its log's last line (a progress bar, usually) */
  logLine: string | null;
  /** where it waits for a concurrency slot */
  queued: string | null;
  error: string | null;
}

export interface PipelineView {
  kind: 'pipeline';
  workflowId: string;
  workflowStatus: WorkflowExecutionStatusName;
  startTime: string;
  closeTime: string | null;
  /** the spec as validated (defaults filled in); null when its input could not be read */
  spec: PipelineSpec | null;
  /** the earlier pipeline it reruns (`rerunPipeline`), and from which step */
  rerunOf: { pipelineId: string; from: string | null } | null;
  /** direct dependencies of each step, and the steps in dependency order */
  deps: Record<string, string[]>;
  order: string[];
  report: PipelineResult | null;
  children: Record<string, ChildView>;
  /** how it ended when it did not succeed */
  failure: FailureView | null;
  /** why the last read got nothing new (no worker answered...), null when it did */
  problem: string | null;
}

/** Child runs queried per read: a 50-way fan-out refreshes each child every 5 reads. */
export const MAX_CHILD_QUERIES = 10;

const CLOSED_CHILD: Partial<Record<WorkflowExecutionStatusName, string>> = {
  COMPLETED: 'succeeded',
  FAILED: 'failed',
  CANCELLED: 'canceled',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed out',
};

/** Reads one pipeline, keeping what never changes (its spec) and the children's states between reads. */
export class PipelineSource {
  private view: PipelineView | undefined;
  private nextChild = 0;
  /** while a Watch follows it: the pipeline's and its running children's histories, and which changed */
  private following: { dirty: Set<string>; follows: Map<string, Follow>; changed: () => void } | undefined;

  constructor(
    private readonly reader: TemporalReader,
    /** the caller's own client (no NOT_OPEN): one last `progress` query of a canceled pipeline replays it once */
    private readonly replaying: Client,
    readonly workflowId: string,
  ) {}

  closed(): boolean {
    return this.view !== undefined && this.view.workflowStatus !== 'RUNNING';
  }

  /** Follow the pipeline's history (and, from the next read on, its running children's): see ./follow.ts. */
  follow(changed: () => void): () => void {
    const f = { dirty: new Set([this.workflowId]), follows: new Map<string, Follow>(), changed };
    this.following = f;
    this.followOne(f, this.workflowId);
    return () => {
      for (const one of f.follows.values()) one.stop();
      f.follows.clear();
      if (this.following === f) this.following = undefined;
    };
  }

  /**
   * The pipeline now: its `progress` query and its running children's `status`; when followed, only those whose
   * history grew since the last read; nothing once closed.
   */
  async read(): Promise<PipelineView> {
    if (this.view && this.closed()) return this.view;
    const view = this.view ?? (await this.first());
    this.view = view;
    if (view.workflowStatus !== 'RUNNING') return view;
    const f = this.following;
    const ask = !f || !view.report || f.dirty.delete(this.workflowId);
    let progress: PipelineResult | 'closed';
    try {
      // the children of the steps running at the last read are asked at the same time (one round trip)
      [progress] = await Promise.all([
        ask ? this.reader.query(this.workflowId, progressQuery) : Promise.resolve(view.report!),
        this.readChildren(view),
      ]);
    } catch (error) {
      f?.dirty.add(this.workflowId);
      view.problem = `no answer to the progress query within ${CALL_TIMEOUT_MS / 1000} s (is a worker running?): ${(error as Error).message}`;
      return view;
    }
    if (progress === 'closed') return this.finish(view);
    view.report = progress;
    view.problem = null;
    if (f) this.followChildren(f, view);
    return view;
  }

  private followOne(f: NonNullable<PipelineSource['following']>, id: string): void {
    f.follows.set(
      id,
      followHistory(this.reader, id, () => {
        f.dirty.add(id);
        f.changed();
      }),
    );
  }

  /** Follow the running children that have not ended; stop following the others. */
  private followChildren(f: NonNullable<PipelineSource['following']>, view: PipelineView): void {
    const live = new Set(liveChildren(view));
    for (const [id, one] of f.follows)
      if (id !== this.workflowId && !live.has(id)) {
        one.stop();
        f.follows.delete(id);
      }
    for (const id of live) if (!f.follows.has(id)) this.followOne(f, id);
  }

  private async first(): Promise<PipelineView> {
    const d = await this.reader.describe(this.workflowId);
    if (d.type !== 'runPipeline') throw new NotThisKind(this.workflowId, d.type);
    const request = await this.reader.input<PipelineRequest>(this.workflowId, d.runId).catch(() => null);
    const spec = specOf(request);
    const view: PipelineView = {
      kind: 'pipeline',
      workflowId: this.workflowId,
      workflowStatus: d.status.name,
      startTime: d.startTime.toISOString(),
      closeTime: d.closeTime?.toISOString() ?? null,
      spec,
      rerunOf: rerunOf(request),
      deps: spec ? stepDependencies(spec) : {},
      order: spec ? safeOrder(spec) : [],
      report: null,
      children: {},
      failure: null,
      problem: null,
    };
    return view.workflowStatus === 'RUNNING' ? view : this.finish(view);
  }

  /** A closed pipeline: its result, or the report its failure carries; read once, never again. */
  private async finish(view: PipelineView): Promise<PipelineView> {
    const d = await this.reader.describe(this.workflowId);
    view.workflowStatus = d.status.name === 'RUNNING' ? 'COMPLETED' : d.status.name;
    view.closeTime = d.closeTime?.toISOString() ?? new Date().toISOString();
    const outcome = await this.reader.result<PipelineResult>(this.workflowId);
    if ('value' in outcome) view.report = outcome.value;
    else {
      const report = reportOfFailure(outcome.error);
      if (report) view.report = report;
      else if (!view.report) view.report = await this.lastProgress();
      view.failure = failureOf(outcome.error);
    }
    view.problem = null;
    view.children = {};
    return view;
  }

  /** A pipeline canceled (or timed out) before we watched it: one query, which a worker answers by replaying it. */
  private async lastProgress(): Promise<PipelineResult | null> {
    this.reader.stats.queries++;
    return this.replaying
      .withDeadline(Date.now() + 5_000, () =>
        this.replaying.workflow.getHandle(this.workflowId).query(progressQuery),
      )
      .catch(() => null);
  }

  /**
   * The running steps' children that have not ended: when followed, those whose history grew (or never read);
   * otherwise MAX_CHILD_QUERIES per read, in turn.
   */
  private async readChildren(view: PipelineView): Promise<void> {
    const live = liveChildren(view);
    const running = new Set(runningChildren(view));
    for (const id of Object.keys(view.children)) if (!running.has(id)) delete view.children[id];
    if (live.length === 0) return;
    const f = this.following;
    let batch: string[];
    if (f) {
      batch = live.filter((id) => !view.children[id] || f.dirty.has(id)).slice(0, MAX_CHILD_QUERIES);
      for (const id of batch) f.dirty.delete(id);
    } else {
      const start = this.nextChild % live.length;
      batch = [...live.slice(start), ...live.slice(0, start)].slice(0, MAX_CHILD_QUERIES);
      this.nextChild = start + batch.length;
    }
    await Promise.all(
      batch.map(async (id) => {
        const state = await this.reader.query(id, statusQuery).catch(() => null);
        if (state === null) return void f?.dirty.add(id);
        if (state === 'closed') {
          const d = await this.reader.describe(id).catch(() => null);
          const prior = view.children[id];
          view.children[id] = {
            ...(prior ?? { workflowId: id, predictionId: null, logLine: null, queued: null, error: null }),
            status: (d && CLOSED_CHILD[d.status.name]) ?? 'ended',
            queued: null,
          };
          return;
        }
        view.children[id] = childOf(id, state);
      }),
    );
  }
}

/** The child runs of the steps running now. */
function runningChildren(view: PipelineView): string[] {
  return Object.values(view.report?.steps ?? {})
    .filter((s) => s.status === 'running')
    .flatMap((s) => s.childWorkflowIds);
}

/** ...of those, the ones not known to have ended. */
function liveChildren(view: PipelineView): string[] {
  return runningChildren(view).filter((id) => !view.children[id] || !ended(view.children[id]!.status));
}

/** Thrown when the id names a workflow of another type. */
export class NotThisKind extends Error {
  constructor(
    readonly workflowId: string,
    readonly type: string,
  ) {
    super(`workflow ${workflowId} is a ${type}`);
  }
}

export function childOf(workflowId: string, s: PredictionState): ChildView {
  return {
    workflowId,
    status: s.status,
    predictionId: s.predictionId,
    logLine: s.logsTail.at(-1) ?? null,
    queued: s.queue ? queuedLine(s.queue) : null,
    error: s.error,
  };
}

const ENDED = new Set(['succeeded', 'failed', 'canceled', 'aborted', 'terminated', 'timed out', 'ended']);
const ended = (status: string): boolean => ENDED.has(status);

/** The spec as the workflow validated it; a spec this version cannot validate is shown as written. */
function specOf(request: PipelineRequest | null): PipelineSpec | null {
  if (!request || typeof request.spec !== 'object' || request.spec === null) return null;
  const checked = validatePipelineSpec(request.spec, request.inputs);
  if ('spec' in checked) return checked.spec;
  const raw = request.spec as Partial<PipelineSpec>;
  return typeof raw.steps === 'object' && raw.steps !== null ? (raw as PipelineSpec) : null;
}

function rerunOf(request: PipelineRequest | null): PipelineView['rerunOf'] {
  const r = request?.rerun;
  if (!r || typeof r.pipelineId !== 'string') return null;
  return { pipelineId: r.pipelineId, from: typeof r.from === 'string' ? r.from : null };
}

function safeOrder(spec: PipelineSpec): string[] {
  try {
    return topologicalOrder(spec);
  } catch {
    return Object.keys(spec.steps);
  }
}

/** The report a failed pipeline carries in its failure's details (PipelineFailed, BudgetExceeded). */
function reportOfFailure(error: unknown): PipelineResult | null {
  if (!(error instanceof WorkflowFailedError) || !(error.cause instanceof ApplicationFailure)) return null;
  const details = error.cause.details?.[0] as Partial<PipelineResult> | undefined;
  return details && typeof details === 'object' && typeof details.steps === 'object'
    ? (details as PipelineResult)
    : null;
}
