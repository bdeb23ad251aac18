/** `pipeline run FILE`, `pipeline status ID`, `pipeline rerun ID` and `pipeline approve ID STEP`. */
import { userInfo } from 'node:os';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { DEFAULT_PIPELINE_TIMEOUT } from '../shared/ceiling';
import { approveStep } from '../client/approve';
import { newWorkflowId } from '../client/options';
import { rerunPipeline, startedRequest } from '../client/rerun';
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
import { PipelineSpecError, validatePipelineSpec, type PipelineSpec } from '../shared/pipeline';
import type { runPipeline } from '../workflows';
import { startWorkflow } from './connect';
import type { CliContext } from './context';
import { CliError, EXIT, connectionLost, isUnavailable } from './errors';
import { checkId, parseCeiling } from './flags';
import { elapsedSince, printPipeline, printPipelineOutcome, stepLine } from './render';
import { UsageError, parseFor } from './usage';
import { interrupted, noWorkerProblem, stoppedWatching, watchForWorker } from './waiting';

export async function pipelineCommand(args: string[], ctx: CliContext): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'status') return pipelineStatus(rest, ctx);
  if (sub === 'rerun') return pipelineRerun(rest, ctx);
  if (sub === 'approve') return pipelineApprove(rest, ctx);
  if (sub !== 'run')
    throw new UsageError(
      `unknown pipeline command "${sub ?? ''}"; use pipeline run FILE, pipeline status ID, pipeline rerun ID or pipeline approve ID STEP`,
      'pipeline',
    );
  const { values, positionals } = parseFor(
    'pipeline run',
    rest,
    {
      input: { type: 'string', multiple: true },
      'pipeline-id': { type: 'string' },
      timeout: { type: 'string' },
      cache: { type: 'boolean' },
      'no-cache': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    true,
  );
  const cache = cacheFlag(values, 'pipeline run');
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
      {
        taskQueue: ctx.taskQueue,
        workflowId: pipelineId,
        timeout: timeoutMs,
        ...(cache !== undefined ? { cache } : {}),
      },
    ),
  );
  const json = values.json ?? false;
  if (!json)
    ctx.out(
      `pipeline ${pipelineId} started (${Object.keys(spec.steps).length} steps, timeout ${humanDuration(timeoutMs)})`,
    );
  return awaitPipeline(handle, pipelineId, json, ctx);
}

/** `--cache` / `--no-cache`: true, false, or undefined (the spec decides); both at once is a usage error. */
function cacheFlag(values: { cache?: boolean; 'no-cache'?: boolean }, command: string): boolean | undefined {
  if (values.cache && values['no-cache'])
    throw new UsageError('give --cache or --no-cache, not both', command);
  return values.cache ? true : values['no-cache'] ? false : undefined;
}

/** Wait for a started pipeline, showing its steps (unless --json), and print how it ended. */
async function awaitPipeline(
  handle: PipelineHandle,
  pipelineId: string,
  json: boolean,
  ctx: CliContext,
): Promise<number> {
  const client = await ctx.client();
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
      const line = stepLine(step, progress.pipelineId, name);
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

/** `pipeline rerun ID`: a new run of pipeline ID that reuses its kept results where it may. */
async function pipelineRerun(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseFor(
    'pipeline rerun',
    args,
    {
      from: { type: 'string' },
      spec: { type: 'string' },
      input: { type: 'string', multiple: true },
      'pipeline-id': { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
    },
    true,
  );
  if (positionals.length !== 1)
    throw new UsageError('pipeline rerun takes the id of the earlier pipeline', 'pipeline rerun');
  const earlierId = positionals[0]!;
  checkId(values['pipeline-id'], '--pipeline-id', 'pipeline rerun');
  let inputs: Record<string, unknown>;
  let spec: PipelineSpec | undefined;
  try {
    inputs = parseInputOverrides(values.input ?? []);
    if (values.spec !== undefined) spec = loadPipelineFile(values.spec, inputs);
  } catch (error) {
    if (error instanceof PipelineSpecError) throw new UsageError(`${values.spec}:\n${error.message}`);
    throw new UsageError(`${values.spec ?? '--input'}: ${(error as Error).message}`, 'pipeline rerun');
  }
  const timeoutMs = values.timeout !== undefined ? parseCeiling(values.timeout, 'pipeline rerun') : undefined;
  const client = await ctx.client();
  const earlier = await startedRequest(client, earlierId).catch((error: unknown) => {
    if (error instanceof TypeError) throw new UsageError(error.message, 'pipeline rerun');
    throw error;
  });
  // checked here, so that a usage error reads as one (the helper checks the same)
  const checked = validatePipelineSpec(spec ?? earlier.request.spec, {
    ...(earlier.request.inputs ?? {}),
    ...inputs,
  });
  if ('errors' in checked)
    throw new UsageError(new PipelineSpecError(checked.errors).message, 'pipeline rerun');
  if (values.from !== undefined && !Object.hasOwn(checked.spec.steps, values.from))
    throw new UsageError(
      `--from ${values.from}: pipeline ${checked.spec.name} has no such step; its steps are ${Object.keys(checked.spec.steps).join(', ')}`,
      'pipeline rerun',
    );
  const pipelineId = values['pipeline-id'] ?? newWorkflowId(`pipeline-${checked.spec.name}`);
  const handle = await startWorkflow(client, pipelineId, ctx, () =>
    rerunPipeline(client, earlierId, {
      pipelineId,
      ...(values.from !== undefined ? { from: values.from } : {}),
      ...(spec ? { spec } : {}),
      inputs,
      ...(timeoutMs !== undefined ? { timeout: timeoutMs } : {}),
    }),
  );
  const json = values.json ?? false;
  if (!json)
    ctx.out(
      `pipeline ${pipelineId} started: a rerun of ${earlierId}${values.from ? ` from step ${values.from}` : ''} (steps it may reuse cost nothing)`,
    );
  return awaitPipeline(handle, pipelineId, json, ctx);
}

/** `pipeline approve ID STEP [--reject] [--reason TEXT]`: decide a waiting approval step. */
async function pipelineApprove(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseFor(
    'pipeline approve',
    args,
    { reject: { type: 'boolean' }, reason: { type: 'string' }, json: { type: 'boolean' } },
    true,
  );
  if (positionals.length !== 2)
    throw new UsageError('pipeline approve takes a pipeline id and a step name', 'pipeline approve');
  const [pipelineId, step] = positionals as [string, string];
  const client = await ctx.client();
  let decision;
  try {
    decision = await approveStep(client, pipelineId, {
      step,
      approve: !values.reject,
      ...(values.reason !== undefined ? { reason: values.reason } : {}),
      by: userName(),
    });
  } catch (error) {
    // the pipeline refused the decision (validation): its reason, nothing changed
    if (error instanceof WorkflowUpdateFailedError)
      throw new CliError(`${error.cause?.message ?? error.message}; nothing was changed`);
    // a pipeline that has ended takes no decision
    const status = await client.workflow
      .getHandle(pipelineId)
      .describe()
      .then((d) => d.status.name)
      .catch(() => null);
    if (status !== null && status !== 'RUNNING')
      throw new CliError(`pipeline ${pipelineId} has ended (${status}): nothing waits for a decision`);
    throw error;
  }
  if (values.json) ctx.out(JSON.stringify({ pipelineId, step, decision }));
  else
    ctx.out(
      `step ${step} of ${pipelineId} ${decision.approved ? 'approved' : 'rejected'} by ${decision.by} at ${decision.at}${decision.reason ? `: ${decision.reason}` : ''}`,
    );
  return EXIT.ok;
}

/** Who decides: the user this command runs as. */
function userName(): string {
  try {
    return process.env.USER?.trim() || userInfo().username;
  } catch {
    return 'unknown';
  }
}
