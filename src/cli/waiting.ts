/**
 * While a command waits for a run: its progress, a warning when no worker polls its task queue, Ctrl-C (stop
 * watching, the run goes on) and a lost connection.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { predictionOutcome, type RunSummary } from '../client/outcome';
import { watchPrediction, type PredictionHandle } from '../client/prediction';
import { isTerminal } from '../shared/types';
import type { CliContext } from './context';
import { EXIT, addressOfClient, connectionLost, isUnavailable } from './errors';
import { elapsedSince, newLines, plural, printRunOutcome } from './render';
import { WORKER_COMMAND } from '../dev/commands';
import { CLI } from './usage';

/** "No worker polls `taskQueue`" and how to start one, or null when one does (or Temporal cannot tell). */
export async function noWorkerProblem(client: Client, taskQueue: string): Promise<string | null> {
  const response = await client.workflowService
    .describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    })
    .catch(() => null);
  if (!response || (response.pollers ?? []).length > 0) return null;
  const address = addressOfClient(client);
  const env = `${address && !/^(localhost|127\.0\.0\.1):7233$/.test(address) ? `TEMPORAL_ADDRESS=${address} ` : ''}`;
  return (
    `no worker is polling task queue "${taskQueue}" (namespace ${client.options.namespace}): the run waits until one does. ` +
    `Start one in another terminal: ${env}TEMPORAL_TASK_QUEUE=${taskQueue} ${WORKER_COMMAND} ` +
    '(with REPLICATE_API_TOKEN set, or REPLICATE_BASE_URL pointing at the simulator)'
  );
}

/**
 * After `noWorkerWarningMs` (then as often), check that a worker polls the run's task queue, and say so once when
 * none does. Returns a stop function.
 */
export function watchForWorker(
  client: Client,
  taskQueue: () => Promise<string>,
  ctx: CliContext,
): () => void {
  const every = ctx.noWorkerWarningMs ?? 15_000;
  let warned = false;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const check = async () => {
    const problem = await taskQueue().then(
      (queue) => noWorkerProblem(client, queue),
      () => null,
    );
    if (stopped) return;
    if (problem && !warned) {
      ctx.live?.(null);
      ctx.err(`warning: ${problem}`);
    } else if (!problem && warned) {
      ctx.err('a worker is polling now');
    }
    warned = problem !== null;
    timer = setTimeout(() => void check(), every);
  };
  timer = setTimeout(() => void check(), every);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** Resolves when `signal` aborts (Ctrl-C); never when there is none. */
export function interrupted(signal: AbortSignal | undefined): Promise<'interrupted'> {
  return new Promise((resolve) => {
    if (!signal) return;
    if (signal.aborted) resolve('interrupted');
    signal.addEventListener('abort', () => resolve('interrupted'), { once: true });
  });
}

/** What Ctrl-C prints: the run goes on, and how to come back to it. */
export function stoppedWatching(ctx: CliContext, workflowId: string, pipeline = false): number {
  ctx.live?.(null);
  ctx.err(`stopped watching; the run continues on the server (workflow ${workflowId}).`);
  ctx.err(
    pipeline
      ? `reattach: ${CLI} pipeline status ${workflowId}    (cancel it in the Temporal UI)`
      : `reattach: ${CLI} result ${workflowId}    cancel it: ${CLI} cancel ${workflowId}`,
  );
  return EXIT.interrupted;
}

/**
 * Wait for the run and print the outcome (`report`: how, and the exit code). Unless `json`, show its progress: status changes as lines; on a terminal
 * (`ctx.live`) one live line with elapsed time, polls and the latest log line; in a pipe each new log line, and a
 * line every 30 s when nothing else was printed. Warns when no worker polls its task queue; Ctrl-C stops watching.
 */
export async function awaitOutcome(
  handle: PredictionHandle,
  json: boolean,
  ctx: CliContext,
  progress = true,
  report?: (summary: RunSummary, elapsed: string) => number,
): Promise<number> {
  const started = Date.now();
  const watching = new AbortController();
  const shownLogs = new Set<string>(); // log lines the progress printed: the outcome does not repeat them
  const watcher =
    progress && !json
      ? showProgress(handle, ctx, started, watching.signal, shownLogs).catch(() => undefined) // best effort
      : undefined;
  const client = await ctx.client();
  let queue: Promise<string> | undefined;
  const stopWorkerWatch = watchForWorker(
    client,
    () => (queue ??= handle.describe().then((d) => d.taskQueue)),
    ctx,
  );

  let summary: RunSummary;
  try {
    const outcome = await Promise.race([
      predictionOutcome(handle, { claims: ctx.claims, claimKey: ctx.claimKey }),
      interrupted(ctx.signal),
    ]);
    if (outcome === 'interrupted') return stoppedWatching(ctx, handle.workflowId);
    summary = outcome;
  } catch (error) {
    if (isUnavailable(error)) throw connectionLost(client, handle.workflowId, error);
    throw error;
  } finally {
    watching.abort(); // its query may wait for a worker; it prints nothing once stopped
    stopWorkerWatch();
    void watcher;
    ctx.live?.(null);
  }
  if (report) return report(summary, elapsedSince(started));
  if (json) ctx.out(JSON.stringify(summary));
  else printRunOutcome(summary, elapsedSince(started), ctx, shownLogs);
  return summary.status === 'succeeded' ? EXIT.ok : EXIT.failed;
}

/** The progress part of awaitOutcome, until `signal` aborts or the run closes. */
async function showProgress(
  handle: PredictionHandle,
  ctx: CliContext,
  started: number,
  signal: AbortSignal,
  shownLogs: Set<string>,
): Promise<void> {
  const live = ctx.live;
  let lastLine = '';
  let logs: string[] = [];
  let printedAt = Date.now();
  for await (const state of watchPrediction(handle, { intervalMs: 300, signal })) {
    // terminal states are printed once, with the outcome
    if (signal.aborted || (state.status !== 'creating' && isTerminal(state.status))) continue;
    const elapsed = elapsedSince(started);
    const line = `${state.status}${state.predictionId ? `  prediction ${state.predictionId}` : ''}`;
    const fresh = newLines(logs, state.logsTail);
    logs = state.logsTail;
    const permanent: string[] = [];
    if (line !== lastLine) permanent.push(`${elapsed}  ${line}`);
    if (!live) {
      permanent.push(...fresh.map((log) => `${' '.repeat(7)}  | ${log}`));
      for (const log of fresh) shownLogs.add(log);
    }
    if (!live && permanent.length === 0 && Date.now() - printedAt >= 30_000)
      permanent.push(`${elapsed}  ${state.status}  (${plural(state.polls, 'poll')})`);
    if (permanent.length > 0) {
      live?.(null);
      for (const text of permanent) ctx.out(text);
      printedAt = Date.now();
    }
    lastLine = line;
    const lastLog = state.logsTail.at(-1);
    live?.(`${elapsed}  ${line}  ${plural(state.polls, 'poll')}${lastLog ? `  | ${lastLog}` : ''}`);
  }
}
