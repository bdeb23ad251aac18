/**
 * The home page's list: recent pipelines and runs from Temporal visibility (one `list` call per refresh, shared by
 * every visitor with the same filters), newest first, each row with a summary. A closed row's details (its result:
 * cost, steps, files) are read once and kept; a running pipeline's step summary is its `progress` query, asked at
 * the list's own (slower) cadence for at most MAX_LIVE_ROWS rows.
 */
import type { WorkflowExecutionInfo } from '@temporalio/client';
import type { ManifestEntry } from '../../activities/outputs';
import { ReplicateModel, ReplicatePredictionId, ReplicateStatus } from '../../shared/search-attributes';
import type { PredictionResult } from '../../shared/types';
import { progressQuery, type PipelineResult } from '../../workflows';
import type { TemporalReader } from './temporal';
import { stepWord } from '../step-word';

export interface ListFilter {
  /** ExecutionStatus: running, succeeded, failed, canceled, terminated, timed-out */
  status?: string;
  /** ReplicateModel, exactly */
  model?: string;
  /** a pipeline name: pipelines whose id starts with `pipeline-<name>-` (the default ids) */
  pipeline?: string;
  /** a workflow id prefix, or a prediction id */
  q?: string;
}

export interface ListRow {
  kind: 'run' | 'pipeline';
  workflowId: string;
  /** running, succeeded, failed, canceled, terminated, timed out; a running run: its job's status */
  status: string;
  model: string | null;
  predictionId: string | null;
  /** a pipeline's steps: `name status` each */
  steps: { name: string; status: string }[] | null;
  startTime: string;
  closeTime: string | null;
  predictTime: number | null;
  costUsd: number | null;
  /** the first image kept from its outputs */
  thumbnail: ManifestEntry | null;
}

export const EXECUTION_STATUS: Record<string, string> = {
  running: 'Running',
  succeeded: 'Completed',
  failed: 'Failed',
  canceled: 'Canceled',
  terminated: 'Terminated',
  'timed-out': 'TimedOut',
};

/** Rows per page. */
export const LIST_SIZE = 30;
/** Running pipelines whose `progress` is asked per refresh (the others show `running`). */
export const MAX_LIVE_ROWS = 10;

/** Closed rows whose details are kept. */
export const MAX_KEPT_ROWS = 2_000;

/** A value safe to quote in a visibility query: no quotes, backslashes or control characters. */
// eslint-disable-next-line no-control-regex
const QUOTABLE = /^[^'"\\\u0000-\u001f]{1,200}$/;

/** The visibility query for `filter`, or the problem with one of its values. */
export function listQuery(filter: ListFilter): { query: string } | { problem: string } {
  const parts = [`ExecutionStatus != 'ContinuedAsNew'`];
  for (const [name, value] of Object.entries(filter))
    if (value !== undefined && !QUOTABLE.test(value))
      return { problem: `${name}: quotes, backslashes and control characters cannot be searched` };
  if (filter.q) {
    // an id search finds pipeline steps' runs too
    parts.push(`WorkflowType IN ('runPipeline', 'runPrediction')`);
    parts.push(
      `(WorkflowId STARTS_WITH '${filter.q}' OR ReplicatePredictionId = '${filter.q}' OR ReplicatePipelineId = '${filter.q}')`,
    );
  } else {
    parts.push(
      `(WorkflowType = 'runPipeline' OR (WorkflowType = 'runPrediction' AND ParentWorkflowId IS NULL))`,
    );
  }
  if (filter.status) {
    const status = EXECUTION_STATUS[filter.status];
    if (!status) return { problem: `status: one of ${Object.keys(EXECUTION_STATUS).join(', ')}` };
    parts.push(`ExecutionStatus = '${status}'`);
  }
  if (filter.model) parts.push(`ReplicateModel = '${filter.model}'`);
  if (filter.pipeline) {
    if (!/^[a-z0-9][a-z0-9-]{0,59}$/.test(filter.pipeline))
      return { problem: 'pipeline: a pipeline name ([a-z0-9-], up to 60 characters)' };
    parts.push(`WorkflowType = 'runPipeline' AND WorkflowId STARTS_WITH 'pipeline-${filter.pipeline}-'`);
  }
  return { query: parts.join(' AND ') };
}

/** Reads the list; keeps closed rows' details (they never change) between reads. */
export class ListSource {
  constructor(
    private readonly reader: TemporalReader,
    private readonly filter: ListFilter,
    /** runId -> the details of a closed row, shared by every list (at most MAX_KEPT_ROWS) */
    private readonly kept: Map<string, Partial<ListRow>>,
  ) {}

  async read(): Promise<{ rows: ListRow[]; problem: string | null }> {
    const q = listQuery(this.filter);
    if ('problem' in q) return { rows: [], problem: q.problem };
    const infos: WorkflowExecutionInfo[] = [];
    this.reader.stats.lists++;
    try {
      await this.reader.deadline(async () => {
        for await (const info of this.reader.client.workflow.list({ query: q.query, pageSize: LIST_SIZE })) {
          infos.push(info);
          if (infos.length >= LIST_SIZE) break;
        }
      });
    } catch (error) {
      return { rows: [], problem: `the list failed: ${(error as Error).message}` };
    }
    infos.sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
    let live = 0;
    const rows = await Promise.all(
      infos.map((info) => {
        const wantsProgress =
          info.type === 'runPipeline' && info.status.name === 'RUNNING' && live++ < MAX_LIVE_ROWS;
        return this.row(info, wantsProgress);
      }),
    );
    return { rows, problem: null };
  }

  private async row(info: WorkflowExecutionInfo, progress: boolean): Promise<ListRow> {
    const attrs = info.typedSearchAttributes;
    const open = info.status.name === 'RUNNING';
    const base: ListRow = {
      kind: info.type === 'runPipeline' ? 'pipeline' : 'run',
      workflowId: info.workflowId,
      status: statusOf(info.status.name, attrs.get(ReplicateStatus) ?? null, info.type === 'runPipeline'),
      model: attrs.get(ReplicateModel) ?? null,
      predictionId: attrs.get(ReplicatePredictionId) ?? null,
      steps: null,
      startTime: info.startTime.toISOString(),
      closeTime: info.closeTime?.toISOString() ?? null,
      predictTime: null,
      costUsd: null,
      thumbnail: null,
    };
    if (open) {
      if (!progress) return base;
      const report = await this.reader.query(info.workflowId, progressQuery).catch(() => null);
      return report && report !== 'closed' ? { ...base, ...pipelineDetails(report) } : base;
    }
    const kept = this.kept.get(info.runId);
    if (kept) return { ...base, ...kept };
    const details = await this.closedDetails(info);
    if (this.kept.size >= MAX_KEPT_ROWS) this.kept.delete(this.kept.keys().next().value!);
    this.kept.set(info.runId, details);
    return { ...base, ...details };
  }

  private async closedDetails(info: WorkflowExecutionInfo): Promise<Partial<ListRow>> {
    const outcome = await this.reader.result<PipelineResult | PredictionResult>(info.workflowId);
    let value: unknown = 'value' in outcome ? outcome.value : undefined;
    if (!value && 'error' in outcome) {
      const details = (outcome.error as { cause?: { details?: unknown[] } }).cause?.details?.[0];
      value = details;
    }
    if (info.type === 'runPipeline')
      return value && typeof value === 'object' && 'steps' in value
        ? pipelineDetails(value as PipelineResult)
        : {};
    const metrics = (value as { metrics?: { predict_time?: number } } | undefined)?.metrics;
    const files = (value as { files?: unknown } | undefined)?.files;
    return {
      predictTime: metrics?.predict_time ?? null,
      thumbnail: Array.isArray(files) ? firstImage(files as ManifestEntry[]) : null,
    };
  }
}

function pipelineDetails(r: PipelineResult): Partial<ListRow> {
  return {
    steps: Object.entries(r.steps).map(([name, s]) => ({ name, status: stepWord(s) })),
    predictTime: r.cost.totalPredictTime,
    costUsd: r.cost.estimatedUsd,
    thumbnail: firstImage(r.manifest.files),
  };
}

function firstImage(entries: ManifestEntry[]): ManifestEntry | null {
  return (
    entries.find((e) => typeof e?.contentType === 'string' && e.contentType.startsWith('image/')) ?? null
  );
}

function statusOf(execution: string, replicate: string | null, pipeline: boolean): string {
  switch (execution) {
    case 'RUNNING':
      return !pipeline && replicate && replicate !== 'succeeded' ? replicate : 'running';
    case 'COMPLETED':
      return 'succeeded';
    case 'FAILED':
      return !pipeline && replicate && ['failed', 'canceled', 'aborted'].includes(replicate)
        ? replicate
        : 'failed';
    case 'CANCELLED':
      return 'canceled';
    case 'TIMED_OUT':
      return 'timed out';
    default:
      return execution.toLowerCase();
  }
}
