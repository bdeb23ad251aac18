/** `pipeline run FILE` and `pipeline status ID`. */
import { DEFAULT_PIPELINE_TIMEOUT } from '../shared/ceiling';
import { newWorkflowId } from '../client/options';
import {
  pipelineOutcome,
  pipelineProgress,
  startPipeline,
  summarizePipeline,
  watchPipeline,
  type PipelineHandle,
  type PipelineSummary,
} from '../client/pipeline';
import { loadPipelineFile, parseInputOverrides } from '../client/pipeline-file';
import { humanDuration } from '../shared/duration';
import { PipelineSpecError, type PipelineSpec } from '../shared/pipeline';
import type { runPipeline } from '../workflows';
import { startWorkflow } from './connect';
import type { CliContext } from './context';
import { EXIT, connectionLost, isUnavailable } from './errors';
import { checkId, parseCeiling } from './flags';
import { elapsedSince, printPipeline, printPipelineOutcome, stepLine } from './render';
import { UsageError, parseFor } from './usage';
import { interrupted, noWorkerProblem, stoppedWatching, watchForWorker } from './waiting';

export async function pipelineCommand(args: string[], ctx: CliContext): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'status') return pipelineStatus(rest, ctx);
  if (sub !== 'run')
    throw new UsageError(
      `unknown pipeline command "${sub ?? ''}"; use pipeline run FILE or pipeline status ID`,
      'pipeline',
    );
  const { values, positionals } = parseFor(
    'pipeline run',
    rest,
    {
      input: { type: 'string', multiple: true },
      'pipeline-id': { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
    },
    true,
  );
  if (positionals.length !== 1)
    throw new UsageError('pipeline run takes one spec file (YAML or JSON)', 'pipeline run');
  let spec: PipelineSpec;
  let inputs: Record<string, unknown>;
  try {
    inputs = parseInputOverrides(values.input ?? []);
    spec = loadPipelineFile(positionals[0]!, inputs);
  } catch (error) {
    if (error instanceof PipelineSpecError) throw new UsageError(`${positionals[0]}:\n${error.message}`);
    throw new UsageError(`${positionals[0]}: ${(error as Error).message}`, 'pipeline run');
  }
  const timeoutMs = parseCeiling(values.timeout ?? spec.timeout ?? DEFAULT_PIPELINE_TIMEOUT, 'pipeline run');
  checkId(values['pipeline-id'], '--pipeline-id', 'pipeline run');
  const client = await ctx.client();
  const pipelineId = values['pipeline-id'] ?? newWorkflowId(`pipeline-${spec.name}`);
  const handle = await startWorkflow(client, pipelineId, ctx, () =>
    startPipeline(
      client,
      { spec, inputs },
      { taskQueue: ctx.taskQueue, workflowId: pipelineId, timeout: timeoutMs },
    ),
  );
  const json = values.json ?? false;
  if (!json)
    ctx.out(
      `pipeline ${pipelineId} started (${Object.keys(spec.steps).length} steps, timeout ${humanDuration(timeoutMs)})`,
    );
  const started = Date.now();
  const watching = new AbortController();
  const watcher = json ? undefined : showSteps(handle, ctx, started, watching.signal).catch(() => undefined); // progress is best effort
  const stopWorkerWatch = watchForWorker(client, async () => ctx.taskQueue, ctx);
  let summary: PipelineSummary;
  try {
    const outcome = await Promise.race([
      pipelineOutcome(handle, { claims: ctx.claims }),
      interrupted(ctx.signal),
    ]);
    if (outcome === 'interrupted') return stoppedWatching(ctx, pipelineId, true);
    summary = outcome;
  } catch (error) {
    if (isUnavailable(error)) throw connectionLost(client, pipelineId, error, true);
    throw error;
  } finally {
    watching.abort(); // its query may have waited for a worker; it prints nothing once stopped
    stopWorkerWatch();
    void watcher;
  }
  if (json) ctx.out(JSON.stringify(summary));
  else printPipelineOutcome(summary, elapsedSince(started), ctx);
  return summary.status === 'succeeded' ? EXIT.ok : EXIT.failed;
}

/** While `pipeline run` waits: a line whenever a step starts or changes (its status and prediction ids). */
async function showSteps(
  handle: PipelineHandle,
  ctx: CliContext,
  started: number,
  signal: AbortSignal,
): Promise<void> {
  const seen = new Map<string, string>();
  for await (const progress of watchPipeline(handle, { intervalMs: 300, signal })) {
    if (signal.aborted) break; // the outcome is printed by the caller
    for (const [name, step] of Object.entries(progress.steps)) {
      const line = stepLine(step);
      if (seen.get(name) !== line && step.status !== 'pending') {
        ctx.out(`${elapsedSince(started)}  ${name}: ${line}`);
        seen.set(name, line);
      }
    }
  }
}

async function pipelineStatus(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseFor('pipeline status', args, { json: { type: 'boolean' } }, true);
  if (positionals.length !== 1)
    throw new UsageError('pipeline status takes one pipeline id', 'pipeline status');
  const client = await ctx.client();
  const handle = client.workflow.getHandle<typeof runPipeline>(positionals[0]!);
  const description = await handle.describe();
  const progress = await pipelineProgress(handle);
  const warning =
    description.status.name === 'RUNNING' ? await noWorkerProblem(client, description.taskQueue) : null;
  if (values.json) {
    ctx.out(
      JSON.stringify({
        workflowStatus: description.status.name,
        ...summarizePipeline(progress),
        ...(warning ? { warning } : {}),
      }),
    );
  } else {
    printPipeline(progress, ctx, `pipeline ${handle.workflowId}: ${description.status.name}`);
    if (warning) ctx.out(`warning: ${warning}`);
  }
  return EXIT.ok;
}
