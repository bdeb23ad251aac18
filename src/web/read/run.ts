/**
 * A run (`runPrediction`) as its page shows it (RunView): its request (the workflow's input, read once), its live
 * state (the `status` query while it runs), and once it has closed its result or outcome (read once). The status
 * timeline is what the run's own timestamps say, plus when this page first saw each status.
 */
import type { WorkflowExecutionStatusName } from '@temporalio/client';
import type { ClaimStore } from '../../activities/claims';
import { predictionOutcome, type RunSummary } from '../../client/outcome';
import { ReplicatePipelineId, ReplicatePredictionId } from '../../shared/search-attributes';
import {
  isTerminal,
  type PredictionRequest,
  type PredictionResult,
  type PredictionState,
} from '../../shared/types';
import { statusQuery, type runPrediction } from '../../workflows';
import { explainFailure } from '../explain';
import { NotThisKind } from './pipeline';
import { followHistory } from './follow';
import { CALL_TIMEOUT_MS, type TemporalReader } from './temporal';

export interface TimelineEntry {
  label: string;
  /** ISO 8601 */
  at: string;
}

export interface RunView {
  kind: 'run';
  workflowId: string;
  workflowStatus: WorkflowExecutionStatusName;
  startTime: string;
  closeTime: string | null;
  /** the pipeline this run is a step of */
  pipelineId: string | null;
  request: Pick<PredictionRequest, 'model' | 'input' | 'deployment'> | null;
  /** the `status` query's last answer */
  state: PredictionState | null;
  /** once closed and succeeded: the result (Replicate's timestamps, metrics) */
  result: PredictionResult | null;
  /** once closed: how it ended (output, error with its type, last log lines) */
  outcome: RunSummary | null;
  explanation: string | null;
  /** first time this page saw each status */
  seen: Record<string, string>;
  problem: string | null;
}

export class RunSource {
  private view: RunView | undefined;

  constructor(
    private readonly reader: TemporalReader,
    readonly workflowId: string,
    private readonly claims?: ClaimStore,
  ) {}

  closed(): boolean {
    return this.view !== undefined && this.view.workflowStatus !== 'RUNNING';
  }

  /** Follow the run's history: a change is heard when the run writes events (./follow.ts). */
  follow(changed: () => void): () => void {
    const f = followHistory(this.reader, this.workflowId, changed);
    return () => f.stop();
  }

  async read(): Promise<RunView> {
    if (this.view && this.closed()) return this.view;
    const view = this.view ?? (await this.first());
    this.view = view;
    if (view.workflowStatus !== 'RUNNING') return view;
    let state: PredictionState | 'closed';
    try {
      state = await this.reader.query(this.workflowId, statusQuery);
    } catch (error) {
      view.problem = `no answer to the status query within ${CALL_TIMEOUT_MS / 1000} s (is a worker running?): ${(error as Error).message}`;
      return view;
    }
    if (state === 'closed') return this.finish(view);
    this.see(view, state);
    view.state = state;
    view.problem = null;
    return view;
  }

  private async first(): Promise<RunView> {
    const d = await this.reader.describe(this.workflowId);
    if (d.type !== 'runPrediction') throw new NotThisKind(this.workflowId, d.type);
    const request = await this.reader.input<PredictionRequest>(this.workflowId, d.runId).catch(() => null);
    const view: RunView = {
      kind: 'run',
      workflowId: this.workflowId,
      workflowStatus: d.status.name,
      startTime: d.startTime.toISOString(),
      closeTime: d.closeTime?.toISOString() ?? null,
      pipelineId: d.typedSearchAttributes.get(ReplicatePipelineId) ?? null,
      request: request
        ? { model: request.model, input: request.input, deployment: request.deployment }
        : null,
      state: null,
      result: null,
      outcome: null,
      explanation: null,
      seen: {},
      problem: null,
    };
    return view.workflowStatus === 'RUNNING' ? view : this.finish(view);
  }

  /**
   * A closed run: its result and outcome from its history, read once. The outcome's `status` query is refused at
   * once (NOT_OPEN: no worker replays the run); the prediction id then comes from the run's search attribute or
   * from what this page saw.
   */
  private async finish(view: RunView): Promise<RunView> {
    const d = await this.reader.describe(this.workflowId);
    view.workflowStatus = d.status.name === 'RUNNING' ? 'COMPLETED' : d.status.name;
    view.closeTime = d.closeTime?.toISOString() ?? new Date().toISOString();
    const outcome = await this.reader.result<PredictionResult>(this.workflowId);
    if ('value' in outcome) view.result = outcome.value;
    this.reader.stats.histories++;
    const handle = this.reader.client.workflow.getHandle<typeof runPrediction>(this.workflowId);
    view.outcome = await this.reader.client.withDeadline(Date.now() + 5_000, () =>
      predictionOutcome(handle, { claims: this.claims }),
    );
    view.outcome.predictionId ??=
      d.typedSearchAttributes.get(ReplicatePredictionId) ?? view.state?.predictionId ?? null;
    view.explanation = view.outcome.error ? explainFailure(view.outcome.error.type) : null;
    if (view.outcome.status !== 'succeeded') view.seen[view.outcome.status] ??= view.closeTime;
    view.problem = null;
    return view;
  }

  private see(view: RunView, state: PredictionState): void {
    const now = new Date().toISOString();
    if (state.predictionId) view.seen.created ??= now;
    view.seen[state.status] ??= state.completedAt ?? now;
  }
}

/** The run's timeline: Temporal's and Replicate's own timestamps where known, else when the page saw it. */
export function timelineOf(view: RunView): TimelineEntry[] {
  const r = view.result;
  const seen = view.seen;
  const live = view.state?.status;
  const end = view.outcome?.status ?? (live && live !== 'creating' && isTerminal(live) ? live : null);
  return [
    at('workflow started', view.startTime),
    at('prediction created', r?.createdAt ?? seen.created),
    at('starting', seen.starting),
    at('processing', r?.startedAt ?? seen.processing),
    end ? at(end, r?.completedAt ?? view.state?.completedAt ?? view.closeTime) : null,
  ].filter((e): e is TimelineEntry => e !== null);
}

function at(label: string, when: string | null | undefined): TimelineEntry | null {
  return when ? { label, at: when } : null;
}
