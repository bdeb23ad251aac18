/**
 * The CLI: `npm run -s client -- <command>`.
 *
 *   run    --model REF --input JSON [--deployment] [--timeout 10m] [--workflow-id ID] [--json]
 *   start  (same flags)            start and print the workflow id
 *   status ID [--json]             live state of a run
 *   result ID [--json]             wait for a run and print its outcome
 *   cancel ID [--json]             cancel a run (and its prediction at Replicate)
 *   pipeline run FILE [--input K=V ...] [--pipeline-id ID] [--json]   a multi-step pipeline (see examples/)
 *   pipeline status ID [--json]
 *   reconcile [--apply] [--schedule 10m | --unschedule]   orphaned predictions: report, cancel, schedule
 *
 * Exit codes: 0 succeeded; 1 the prediction failed, was canceled, aborted or timed out; 2 usage or configuration.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  ApplicationFailure,
  CancelledFailure,
  ScheduleAlreadyRunning,
  Client,
  Connection,
  TerminatedFailure,
  TimeoutFailure,
  WorkflowFailedError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type WorkflowHandle,
} from '@temporalio/client';
import { ConfigError, readTemporalConfig, type TemporalConfig } from './config';
import { humanDuration, parseDuration } from './shared/duration';
import { PipelineFailureType, PredictionFailureType } from './shared/failures';
import {
  isTerminal,
  type PredictionFailureDetails,
  type PredictionRequest,
  type PredictionResult,
  type PredictionState,
} from './shared/types';
import { validateRequest } from './shared/validate';
import { progressQuery, reconcileOrphans, runPipeline, runPrediction, statusQuery } from './workflows';
import type { PipelineResult } from './workflows/pipeline';
import { PipelineSpecError, type PipelineSpec } from './shared/pipeline';
import { loadPipelineFile, parseInputOverrides } from './pipeline-file';
import { ReplicatePipelineId } from './shared/search-attributes';
import type { ReconcileOptions } from './workflows/reconcile';

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export const USAGE = `usage: npm run -s client -- <command>
  run    --model REF --input JSON [--deployment] [--timeout 10m] [--workflow-id ID] [--json]
  start  --model REF --input JSON [--deployment] [--timeout 10m] [--workflow-id ID] [--json]
  status ID [--json]
  result ID [--json]
  cancel ID [--json]
  pipeline run FILE [--input KEY=VALUE ...] [--pipeline-id ID] [--timeout 30m] [--json]
  pipeline status ID [--json]
  reconcile [--apply] [--lookback 60m] [--grace 2m] [--json]      find (and cancel) orphaned predictions
  reconcile --schedule 10m [--apply] [...] | --unschedule          run it on a Temporal Schedule
REF is owner/name, owner/name:<version>, a version id, or with --deployment a deployment owner/name.
JSON is the model input object, e.g. '{"prompt": "a lighthouse at dusk"}', or @file.json.`;

/** What `--json` prints for run/result: exactly one object. */
export interface RunSummary {
  workflowId: string;
  predictionId: string | null;
  status: 'succeeded' | 'failed' | 'canceled' | 'aborted' | 'timed_out' | 'error';
  output: unknown;
  metrics: PredictionResult['metrics'] | null;
  error: { type: string; message: string; logsTail?: string[] } | null;
}

export interface CliContext {
  /** lazily connected Temporal client */
  client: () => Promise<Client>;
  taskQueue: string;
  out: (line: string) => void;
  err: (line: string) => void;
  /** reads `--input @file.json` */
  readFile?: (path: string) => string;
}

class UsageError extends Error {}

const RUN_OPTIONS = {
  model: { type: 'string' },
  input: { type: 'string' },
  deployment: { type: 'boolean' },
  timeout: { type: 'string' },
  'workflow-id': { type: 'string' },
  json: { type: 'boolean' },
} as const;

export async function runCli(argv: string[], ctx: CliContext): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
      case 'start':
        return await startCommand(command, rest, ctx);
      case 'status':
      case 'result':
      case 'cancel':
        return await idCommand(command, rest, ctx);
      case 'reconcile':
        return await reconcileCommand(rest, ctx);
      case 'pipeline':
        return await pipelineCommand(rest, ctx);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        ctx.out(USAGE);
        return command === undefined ? EXIT.usage : EXIT.ok;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError || isParseArgsError(error)) {
      ctx.err(`error: ${error.message}\n${USAGE}`);
      return EXIT.usage;
    }
    if (error instanceof ConfigError) {
      ctx.err(`error: ${error.message}`);
      return EXIT.usage;
    }
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      ctx.err(
        `error: a workflow with id "${error.workflowId}" is already running; pick another --workflow-id`,
      );
      return EXIT.usage;
    }
    if (error instanceof WorkflowNotFoundError) {
      ctx.err(`error: no workflow with id "${error.workflowId}"`);
      return EXIT.usage;
    }
    throw error;
  }
}

async function startCommand(command: 'run' | 'start', args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseArgs({ args, options: RUN_OPTIONS, strict: true, allowPositionals: false });
  if (!values.model) throw new UsageError('--model is required');
  if (values.input === undefined)
    throw new UsageError('--input is required (a JSON object, e.g. \'{"prompt": "..."}\')');
  const input = parseInput(values.input, ctx);
  const timeout = parseDuration(values.timeout ?? '10m');
  if ('error' in timeout) throw new UsageError(`--timeout: ${timeout.error}`);
  if (timeout.ms < 10_000 || timeout.ms > 7 * 24 * 3_600_000) {
    throw new UsageError(`--timeout: ${values.timeout} is out of range; use 10s to 168h`);
  }
  const request: PredictionRequest = { model: values.model, input, deployment: values.deployment ?? false };
  const problems = validateRequest(request);
  if (problems.length > 0) throw new UsageError(problems.join('; '));

  const idFlag = values['workflow-id'];
  if (idFlag !== undefined && (idFlag.trim() === '' || idFlag.length > 1000)) {
    throw new UsageError(`--workflow-id: must be 1 to 1000 characters, got ${idFlag.length}`);
  }
  const client = await ctx.client();
  const workflowId = idFlag ?? `prediction-${slug(values.model)}-${randomBytes(4).toString('hex')}`;
  const handle = await client.workflow.start(runPrediction, {
    taskQueue: ctx.taskQueue,
    workflowId,
    args: [request],
    workflowExecutionTimeout: timeout.ms,
    staticSummary: summaryOf(request),
    staticDetails: detailsOf(request, timeout.ms),
  });
  if (command === 'start') {
    ctx.out(values.json ? JSON.stringify({ workflowId, runId: handle.firstExecutionRunId }) : workflowId);
    return EXIT.ok;
  }
  if (!values.json) ctx.out(`workflow ${workflowId} started (timeout ${humanDuration(timeout.ms)})`);
  return awaitOutcome(handle, values.json ?? false, ctx);
}

async function idCommand(
  command: 'status' | 'result' | 'cancel',
  args: string[],
  ctx: CliContext,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { json: { type: 'boolean' } },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError(`${command} takes one workflow id`);
  const client = await ctx.client();
  const handle = client.workflow.getHandle<typeof runPrediction>(positionals[0]!);
  const json = values.json ?? false;

  if (command === 'status') {
    const description = await handle.describe();
    const state = await handle.query(statusQuery).catch(() => null);
    if (json) {
      ctx.out(
        JSON.stringify({ workflowId: handle.workflowId, workflowStatus: description.status.name, ...state }),
      );
    } else {
      ctx.out(`workflow ${handle.workflowId}: ${description.status.name}`);
      if (state) printState(state, ctx);
    }
    return EXIT.ok;
  }
  if (command === 'cancel') {
    await handle.cancel();
    if (!json)
      ctx.out(`cancel requested for ${handle.workflowId}; waiting for the prediction to be canceled...`);
    return awaitOutcome(handle, json, ctx, false);
  }
  return awaitOutcome(handle, json, ctx, false);
}

/** What `pipeline run --json` prints: exactly one object. */
export interface PipelineSummary {
  pipelineId: string;
  status: 'succeeded' | 'failed' | 'canceled' | 'timed_out' | 'error';
  steps: Record<
    string,
    { status: string; predictionIds: string[]; outputs: unknown[]; files: string[]; error: string | null }
  >;
  manifest: string | null;
  cost: PipelineResult['cost'] | null;
  error: { type: string; message: string } | null;
}

async function pipelineCommand(args: string[], ctx: CliContext): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'status') {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { json: { type: 'boolean' } },
      strict: true,
      allowPositionals: true,
    });
    if (positionals.length !== 1) throw new UsageError('pipeline status takes one pipeline id');
    const client = await ctx.client();
    const handle = client.workflow.getHandle<typeof runPipeline>(positionals[0]!);
    const description = await handle.describe();
    const progress = await withLivePredictionIds(client, await handle.query(progressQuery));
    if (values.json)
      ctx.out(JSON.stringify({ workflowStatus: description.status.name, ...summarizePipeline(progress) }));
    else printPipeline(progress, ctx, `pipeline ${handle.workflowId}: ${description.status.name}`);
    return EXIT.ok;
  }
  if (sub !== 'run')
    throw new UsageError(
      `unknown pipeline command "${sub ?? ''}"; use pipeline run FILE or pipeline status ID`,
    );
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      input: { type: 'string', multiple: true },
      'pipeline-id': { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError('pipeline run takes one spec file (YAML or JSON)');
  let spec: PipelineSpec;
  let inputs: Record<string, unknown>;
  try {
    inputs = parseInputOverrides(values.input ?? []);
    spec = loadPipelineFile(positionals[0]!, inputs);
  } catch (error) {
    if (error instanceof PipelineSpecError) throw new UsageError(`${positionals[0]}:\n${error.message}`);
    throw new UsageError(`${positionals[0]}: ${(error as Error).message}`);
  }
  const timeout = parseDuration(values.timeout ?? spec.timeout ?? '30m');
  if ('error' in timeout) throw new UsageError(`--timeout: ${timeout.error}`);
  const client = await ctx.client();
  const pipelineId = values['pipeline-id'] ?? `pipeline-${spec.name}-${randomBytes(4).toString('hex')}`;
  const handle = await client.workflow.start(runPipeline, {
    taskQueue: ctx.taskQueue,
    workflowId: pipelineId,
    args: [{ spec, inputs }],
    workflowExecutionTimeout: timeout.ms,
    staticSummary: `pipeline ${spec.name}: ${Object.keys(spec.steps).join(' -> ')}`,
    typedSearchAttributes: [{ key: ReplicatePipelineId, value: pipelineId }],
  });
  const json = values.json ?? false;
  if (!json)
    ctx.out(
      `pipeline ${pipelineId} started (${Object.keys(spec.steps).length} steps, timeout ${humanDuration(timeout.ms)})`,
    );
  const started = Date.now();
  let stop = false;
  const seen = new Map<string, string>();
  const watcher = (async () => {
    while (!json && !stop) {
      const progress = await handle
        .query(progressQuery)
        .then((p) => withLivePredictionIds(client, p))
        .catch(() => null);
      for (const [name, step] of Object.entries(progress?.steps ?? {})) {
        const line = `${step.status}${step.predictionIds.length ? `  ${step.predictionIds.join(', ')}` : ''}`;
        if (seen.get(name) !== line && step.status !== 'pending') {
          ctx.out(`${humanDuration(Date.now() - started).padStart(7)}  ${name}: ${line}`);
          seen.set(name, line);
        }
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  let summary: PipelineSummary;
  try {
    summary = summarizePipeline(await handle.result());
  } catch (error) {
    summary = await pipelineFailureSummary(handle.workflowId, error);
  } finally {
    stop = true;
    await watcher;
  }
  if (json) ctx.out(JSON.stringify(summary));
  else {
    ctx.out(`${humanDuration(Date.now() - started).padStart(7)}  pipeline ${summary.status}`);
    for (const [name, step] of Object.entries(summary.steps)) {
      ctx.out(`  ${name}: ${step.status}${step.error ? ` (${step.error})` : ''}`);
      for (const file of step.files.length
        ? step.files
        : step.outputs.map((o) => (typeof o === 'string' ? o : JSON.stringify(o))))
        ctx.out(`    ${file}`);
    }
    if (summary.cost)
      ctx.out(
        `cost: ${summary.cost.totalPredictTime}s predict_time${summary.cost.estimatedUsd !== null ? `, ~$${summary.cost.estimatedUsd}` : ''}`,
      );
    if (summary.manifest) ctx.out(`manifest: ${summary.manifest}`);
    if (summary.error && summary.status !== 'failed') ctx.err(`${summary.status}: ${summary.error.message}`);
  }
  return summary.status === 'succeeded' ? EXIT.ok : EXIT.failed;
}

/**
 * The parent learns a step's prediction ids when its children finish; while they run, ask each child's `status`
 * query so progress shows the ids at once.
 */
async function withLivePredictionIds(client: Client, progress: PipelineResult): Promise<PipelineResult> {
  for (const step of Object.values(progress.steps)) {
    if (step.status !== 'running' || step.predictionIds.length >= step.childWorkflowIds.length) continue;
    const ids = await Promise.all(
      step.childWorkflowIds.map((id) =>
        client.workflow
          .getHandle(id)
          .query(statusQuery)
          .then((s) => s.predictionId)
          .catch(() => null),
      ),
    );
    step.predictionIds = ids.filter((id): id is string => id !== null);
  }
  return progress;
}

function summarizePipeline(r: PipelineResult): PipelineSummary {
  return {
    pipelineId: r.pipelineId,
    status: r.status,
    steps: Object.fromEntries(
      Object.entries(r.steps).map(([n, s]) => [
        n,
        {
          status: s.status,
          predictionIds: s.predictionIds,
          outputs: s.outputs,
          files: s.files,
          error: s.error,
        },
      ]),
    ),
    manifest: r.manifest.path,
    cost: r.cost,
    error:
      r.status === 'failed'
        ? { type: PipelineFailureType.Failed, message: 'one or more steps failed' }
        : null,
  };
}

async function pipelineFailureSummary(pipelineId: string, error: unknown): Promise<PipelineSummary> {
  if (!(error instanceof WorkflowFailedError)) throw error;
  const cause = error.cause;
  if (
    cause instanceof ApplicationFailure &&
    cause.type === PipelineFailureType.Failed &&
    cause.details?.[0]
  ) {
    const summary = summarizePipeline(cause.details[0] as PipelineResult);
    return { ...summary, error: { type: cause.type, message: cause.message } };
  }
  const status =
    cause instanceof CancelledFailure ? 'canceled' : cause instanceof TimeoutFailure ? 'timed_out' : 'error';
  const type = cause instanceof ApplicationFailure ? (cause.type ?? 'Error') : (cause?.name ?? 'Error');
  return {
    pipelineId,
    status,
    steps: {},
    manifest: null,
    cost: null,
    error: { type, message: cause?.message ?? error.message },
  };
}

function printPipeline(r: PipelineResult, ctx: CliContext, title: string): void {
  ctx.out(title);
  for (const [name, s] of Object.entries(r.steps)) {
    const elapsed = s.elapsedMs !== null ? ` ${humanDuration(s.elapsedMs)}` : '';
    ctx.out(
      `  ${name}: ${s.status}${elapsed}${s.predictionIds.length ? `  ${s.predictionIds.join(', ')}` : ''}${s.error ? `  (${s.error})` : ''}`,
    );
  }
}

export const RECONCILE_SCHEDULE_ID = 'replicate-reconciler';

async function reconcileCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      apply: { type: 'boolean' },
      lookback: { type: 'string' },
      grace: { type: 'string' },
      schedule: { type: 'string' },
      unschedule: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  });
  const minutes = (flag: string, text: string | undefined, fallback: string) => {
    const d = parseDuration(text ?? fallback);
    if ('error' in d) throw new UsageError(`--${flag}: ${d.error}`);
    return d.ms;
  };
  const options: ReconcileOptions = {
    apply: values.apply ?? false,
    lookbackMinutes: minutes('lookback', values.lookback, '60m') / 60_000,
    graceSeconds: minutes('grace', values.grace, '2m') / 1000,
  };
  const client = await ctx.client();
  if (values.unschedule) {
    await client.schedule.getHandle(RECONCILE_SCHEDULE_ID).delete();
    ctx.out(
      values.json
        ? JSON.stringify({ scheduleId: RECONCILE_SCHEDULE_ID, deleted: true })
        : `deleted schedule ${RECONCILE_SCHEDULE_ID}`,
    );
    return EXIT.ok;
  }
  if (values.schedule !== undefined) {
    const every = minutes('schedule', values.schedule, '10m');
    if (every < 60_000) throw new UsageError('--schedule: run it at most once a minute (e.g. 10m)');
    const action = {
      type: 'startWorkflow' as const,
      workflowType: reconcileOrphans,
      taskQueue: ctx.taskQueue,
      args: [options] as [ReconcileOptions],
      workflowExecutionTimeout: '10m',
    };
    const spec = { intervals: [{ every }] };
    try {
      await client.schedule.create({
        scheduleId: RECONCILE_SCHEDULE_ID,
        spec,
        action,
        policies: { overlap: 'SKIP' },
      });
    } catch (error) {
      if (!(error instanceof ScheduleAlreadyRunning)) throw error;
      await client.schedule
        .getHandle(RECONCILE_SCHEDULE_ID)
        .update((previous) => ({ ...previous, spec, action }));
    }
    ctx.out(
      values.json
        ? JSON.stringify({ scheduleId: RECONCILE_SCHEDULE_ID, every: values.schedule, ...options })
        : `schedule ${RECONCILE_SCHEDULE_ID}: reconcile every ${values.schedule} (${options.apply ? 'canceling orphans' : 'dry run'})`,
    );
    return EXIT.ok;
  }
  const report = await client.workflow.execute(reconcileOrphans, {
    taskQueue: ctx.taskQueue,
    workflowId: `reconcile-${new Date().toISOString().replace(/[:.]/g, '-')}`,
    args: [options],
    workflowExecutionTimeout: '10m',
  });
  if (values.json) {
    ctx.out(JSON.stringify(report));
  } else {
    ctx.out(
      `${report.scanned} jobs listed, ${report.running} running, ${report.owned} owned by running workflows, ${report.orphans.length} orphaned`,
    );
    for (const o of report.orphans) {
      const fate = report.canceled.includes(o.id)
        ? 'canceled'
        : report.cancelFailed.includes(o.id)
          ? 'CANCEL FAILED'
          : 'left running (dry run)';
      ctx.out(`  ${o.kind} ${o.id}  ${o.model ?? ''}  ${o.status}  created ${o.createdAt}  -> ${fate}`);
    }
    if (report.dryRun && report.orphans.length > 0) ctx.out('dry run: add --apply to cancel them');
  }
  return report.cancelFailed.length > 0 ? EXIT.failed : EXIT.ok;
}

/** Wait for the run, showing status transitions live unless `json`, then print the outcome. */
async function awaitOutcome(
  handle: WorkflowHandle<typeof runPrediction>,
  json: boolean,
  ctx: CliContext,
  live = true,
): Promise<number> {
  const started = Date.now();
  let lastLine = '';
  let stop = false;
  const watcher = (async () => {
    while (live && !json && !stop) {
      const state = await handle.query(statusQuery).catch(() => null);
      // terminal states are printed once, with the outcome, below
      if (state && (state.status === 'creating' || !isTerminal(state.status))) {
        const line = `${state.status}${state.predictionId ? `  prediction ${state.predictionId}` : ''}`;
        if (line !== lastLine) {
          const lastLog = state.logsTail.at(-1);
          ctx.out(
            `${humanDuration(Date.now() - started).padStart(7)}  ${line}${lastLog ? `  | ${lastLog}` : ''}`,
          );
          lastLine = line;
        }
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  })();

  const summary = await outcomeOf(handle);
  stop = true;
  await watcher;
  if (json) {
    ctx.out(JSON.stringify(summary));
  } else if (summary.status === 'succeeded') {
    ctx.out(
      `${humanDuration(Date.now() - started).padStart(7)}  succeeded  prediction ${summary.predictionId}` +
        (summary.metrics?.predict_time !== undefined
          ? `  (predict_time ${summary.metrics.predict_time}s)`
          : ''),
    );
    ctx.out('output:');
    ctx.out(formatOutput(summary.output));
  } else {
    ctx.err(`${summary.status}: ${summary.error?.message ?? 'unknown error'}`);
    for (const line of summary.error?.logsTail?.slice(-5) ?? []) ctx.err(`  | ${line}`);
  }
  return summary.status === 'succeeded' ? EXIT.ok : EXIT.failed;
}

/** The outcome of a run as the `--json` object. */
export async function outcomeOf(handle: WorkflowHandle<typeof runPrediction>): Promise<RunSummary> {
  const base = { workflowId: handle.workflowId, output: null, metrics: null };
  try {
    const result = await handle.result();
    return {
      ...base,
      predictionId: result.id,
      status: 'succeeded',
      output: result.output,
      metrics: result.metrics,
      error: null,
    };
  } catch (error) {
    if (!(error instanceof WorkflowFailedError)) throw error;
    const state = await handle.query(statusQuery).catch(() => null);
    const cause = error.cause;
    if (cause instanceof CancelledFailure) {
      return {
        ...base,
        predictionId: state?.predictionId ?? null,
        status: 'canceled',
        error: {
          type: 'WorkflowCanceled',
          message: 'the run was canceled; its prediction was canceled at Replicate',
        },
      };
    }
    if (cause instanceof TimeoutFailure || cause instanceof TerminatedFailure) {
      return {
        ...base,
        predictionId: state?.predictionId ?? null,
        status: 'timed_out',
        error: {
          type: cause.name,
          message: `the workflow ${cause instanceof TimeoutFailure ? 'timed out' : 'was terminated'} before it could clean up`,
        },
      };
    }
    const failure = cause instanceof ApplicationFailure ? cause : undefined;
    const details = failure?.details?.find(isFailureDetails);
    const type = failure?.type ?? cause?.name ?? 'Error';
    return {
      ...base,
      predictionId: details?.predictionId ?? state?.predictionId ?? null,
      status: STATUS_BY_TYPE[type] ?? 'error',
      metrics: details?.metrics ?? null,
      error: {
        type,
        message: failure?.message ?? cause?.message ?? error.message,
        logsTail: details?.logsTail,
      },
    };
  }
}

const STATUS_BY_TYPE: Record<string, RunSummary['status']> = {
  [PredictionFailureType.Failed]: 'failed',
  [PredictionFailureType.Canceled]: 'canceled',
  [PredictionFailureType.Aborted]: 'aborted',
  [PredictionFailureType.TimedOut]: 'timed_out',
};

function isFailureDetails(d: unknown): d is PredictionFailureDetails {
  return typeof d === 'object' && d !== null && 'predictionId' in d && 'logsTail' in d;
}

function printState(state: PredictionState, ctx: CliContext): void {
  ctx.out(`  model       ${state.model}`);
  ctx.out(
    `  prediction  ${state.predictionId ?? '(not created yet)'}${state.webUrl ? `  ${state.webUrl}` : ''}`,
  );
  ctx.out(`  status      ${state.status}  after ${state.polls} polls`);
  if (state.nextPollAt) ctx.out(`  next poll   ${state.nextPollAt}`);
  ctx.out(`  started     ${state.startedAt}${state.completedAt ? `, completed ${state.completedAt}` : ''}`);
  ctx.out(`  deadline    ${state.deadline}`);
  if (state.error) ctx.out(`  error       ${state.error}`);
  for (const line of state.logsTail.slice(-5)) ctx.out(`  | ${line}`);
}

function parseInput(text: string, ctx: CliContext): Record<string, unknown> {
  let source = text;
  if (text.startsWith('@')) {
    if (!ctx.readFile) throw new UsageError('--input @file is not supported here');
    try {
      source = ctx.readFile(text.slice(1));
    } catch (error) {
      throw new UsageError(`--input: cannot read ${text.slice(1)}: ${(error as Error).message}`);
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(source);
  } catch (error) {
    throw new UsageError(
      `--input is not valid JSON (${(error as Error).message}); quote it, e.g. --input '{"prompt": "a cat"}'`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(
      `--input must be a JSON object such as {"prompt": "a cat"}, got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`,
    );
  }
  return value as Record<string, unknown>;
}

/** One line for the Temporal UI: the model and an excerpt of the prompt. */
function summaryOf(request: PredictionRequest): string {
  const prompt = request.input.prompt;
  const excerpt =
    typeof prompt === 'string' ? `: "${prompt.length > 60 ? `${prompt.slice(0, 57)}...` : prompt}"` : '';
  return `${request.deployment ? 'deployment ' : ''}${request.model}${excerpt}`;
}

/** Markdown for the Temporal UI: the model (linked), the ceiling, the input as a list. */
export function detailsOf(request: PredictionRequest, timeoutMs: number): string {
  const model = request.model.replace(/:.*/, '');
  const link = /^[^/]+\/[^/]+$/.test(model)
    ? `[${request.model}](https://replicate.com/${model})`
    : `\`${request.model}\``;
  const rows = Object.entries(request.input).map(([key, value]) => {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    return `- **${key}:** ${(text.length > 200 ? `${text.slice(0, 197)}...` : text).replace(/\n/g, ' ')}`;
  });
  return [
    `**${request.deployment ? 'Deployment' : 'Model'}:** ${link}  `,
    `**Ceiling:** ${humanDuration(timeoutMs)} (Replicate stops the job by itself then, via Cancel-After)`,
    '',
    '**Input**',
    '',
    ...rows,
  ].join('\n');
}

function formatOutput(output: unknown): string {
  if (typeof output === 'string') return `  ${output}`;
  if (Array.isArray(output) && output.every((o) => typeof o === 'string'))
    return output.map((o) => `  ${o}`).join('\n');
  return JSON.stringify(output, null, 2);
}

function slug(model: string): string {
  return model
    .replace(/:.*/, '')
    .replace(/[^a-zA-Z0-9]+/g, '-')
    .slice(0, 60);
}

function isParseArgsError(error: unknown): error is Error {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof TypeError && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}

/** Connect lazily, explaining an unreachable server in one line. */
export function connectLazily(config: TemporalConfig): () => Promise<Client> {
  let client: Promise<Client> | undefined;
  return () =>
    (client ??= Connection.connect({ address: config.address, connectTimeout: '5s' }).then(
      (connection) => new Client({ connection, namespace: config.namespace }),
      (error: unknown) => {
        throw new ConfigError(
          `cannot reach Temporal at ${config.address} (${(error as Error).message}); start a server (temporal server start-dev) or run \`npm run demo\``,
        );
      },
    ));
}

if (require.main === module) {
  const main = async (): Promise<number> => {
    let config: TemporalConfig;
    try {
      config = readTemporalConfig();
    } catch (error) {
      console.error(`error: ${(error as Error).message}`);
      return EXIT.usage;
    }
    const { readFileSync } = await import('node:fs');
    return runCli(process.argv.slice(2), {
      client: connectLazily(config),
      taskQueue: config.taskQueue,
      out: (line) => console.log(line),
      err: (line) => console.error(line),
      readFile: (path) => readFileSync(path, 'utf8'),
    });
  };
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(EXIT.failed);
    },
  );
}
