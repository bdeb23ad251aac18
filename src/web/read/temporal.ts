/**
 * How the page talks to Temporal: through the caller's client (its connection, namespace and data converter, so
 * encrypted payloads read in clear), with queries that closed workflows reject (`NOT_OPEN`: the server answers
 * at once instead of having a worker replay the whole history), every call under a deadline, and every call
 * counted (`WebStats`: what the page costs the server).
 */
import { Client, QueryRejectedError, type QueryDefinition } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';

/** Calls the page made to Temporal since it started, by kind. */
export interface WebStats {
  queries: number;
  describes: number;
  /** history reads: a workflow's first event (its input, once) and closed workflows' results (once) */
  histories: number;
  /** visibility list calls (the home page) */
  lists: number;
  /** long polls on histories (./follow.ts): each returns when its workflow writes events, or after ~20 s */
  longPolls: number;
}

/** One call may take this long; a query needs a worker, and with none polling it would wait for one. */
export const CALL_TIMEOUT_MS = 2_000;

export class TemporalReader {
  readonly client: Client;
  readonly stats: WebStats = { queries: 0, describes: 0, histories: 0, lists: 0, longPolls: 0 };

  constructor(base: Client) {
    this.client = new Client({
      connection: base.connection,
      namespace: base.options.namespace,
      dataConverter: base.options.dataConverter,
      interceptors: base.options.interceptors,
      workflow: { queryRejectCondition: 'NOT_OPEN' },
    });
  }

  get namespace(): string {
    return this.client.options.namespace;
  }

  /** The query's answer, `closed` when the workflow has closed (the server rejected it without a worker). */
  async query<T>(workflowId: string, query: QueryDefinition<T, []>): Promise<T | 'closed'> {
    this.stats.queries++;
    try {
      return await this.deadline(() => this.client.workflow.getHandle(workflowId).query(query));
    } catch (error) {
      if (error instanceof QueryRejectedError) return 'closed';
      throw error;
    }
  }

  async describe(workflowId: string) {
    this.stats.describes++;
    return this.deadline(() => this.client.workflow.getHandle(workflowId).describe());
  }

  /** The workflow's first argument, from its first history event (decoded with the client's data converter). */
  async input<T>(workflowId: string, runId?: string): Promise<T | null> {
    this.stats.histories++;
    const { history } = await this.deadline(() =>
      this.client.workflowService.getWorkflowExecutionHistory({
        namespace: this.namespace,
        execution: { workflowId, ...(runId ? { runId } : {}) },
        maximumPageSize: 1,
      }),
    );
    const started = history?.events?.[0]?.workflowExecutionStartedEventAttributes;
    if (!started) return null;
    return decodeFromPayloadsAtIndex<T>(this.client.options.loadedDataConverter, 0, started.input?.payloads);
  }

  /** A closed workflow's result (its close event), or the error it failed with. */
  async result<T>(workflowId: string): Promise<{ value: T } | { error: unknown }> {
    this.stats.histories++;
    return this.client.workflow
      .getHandle(workflowId)
      .result()
      .then(
        (value) => ({ value: value as T }),
        (error: unknown) => ({ error }),
      );
  }

  deadline<R>(fn: () => Promise<R>): Promise<R> {
    return this.client.withDeadline(Date.now() + CALL_TIMEOUT_MS, fn);
  }
}
