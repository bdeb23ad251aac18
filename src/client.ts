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
 *   <command> --help               that command's usage and flags
 *
 * Exit codes: 0 succeeded; 1 the prediction failed, was canceled, aborted, timed out or was terminated; 2 usage or
 * configuration (also: Temporal unreachable, a start the server refused); 130 Ctrl-C (the run continues).
 */
import { join } from 'node:path';
import { fileClaimStore, resolveClaims, type ClaimStore } from './activities/claims';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  ApplicationFailure,
  CancelledFailure,
  ScheduleAlreadyRunning,
  Client,
  Connection,
  ServiceError,
  TerminatedFailure,
  TimeoutFailure,
  WorkflowFailedError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type WorkflowHandle,
} from '@temporalio/client';
import { temporal } from '@temporalio/proto';
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
import { workflowIdProblem } from './shared/ids';
import { temporalUnreachable, temporalUnreachableHint } from './dev/hints';
import { ensureSearchAttributes } from './temporal-setup';

export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

const CLI = 'npm run -s client --';

const RUN_FLAGS = `  --model REF        owner/name, owner/name:<version>, a version id, or with --deployment a deployment owner/name
  --input JSON       the model input object, e.g. '{"prompt": "a lighthouse at dusk"}', or @file.json
  --deployment       REF names a deployment
  --timeout 10m      the ceiling (10s to 168h): Replicate stops the job by itself then
  --workflow-id ID   your own id (default prediction-<model>-<random>)
  --json             print exactly one JSON object`;

/** Each command's usage line(s) and what its flags mean: `<command> --help`, and the line a usage error shows. */
const COMMANDS: Record<string, { usage: string[]; help: string }> = {
  run: {
    usage: ['run --model REF --input JSON [--deployment] [--timeout 10m] [--workflow-id ID] [--json]'],
    help: `Run one prediction and wait for it, showing its progress, then print the output.\n${RUN_FLAGS}`,
  },
  start: {
    usage: ['start --model REF --input JSON [--deployment] [--timeout 10m] [--workflow-id ID] [--json]'],
    help: `Start one prediction and print its workflow id (then: result, status or cancel ID).\n${RUN_FLAGS}`,
  },
  status: {
    usage: ['status ID [--json]'],
    help: 'The live state of a run: status, prediction, polls, logs.',
  },
  result: {
    usage: ['result ID [--json]'],
    help: 'Wait for a run (showing its progress) and print its outcome.',
  },
  cancel: {
    usage: ['cancel ID [--json]'],
    help: 'Cancel a run and its prediction at Replicate, and wait for it to end.',
  },
  'pipeline run': {
    usage: ['pipeline run FILE [--input KEY=VALUE ...] [--pipeline-id ID] [--timeout 30m] [--json]'],
    help: `Run a multi-step pipeline from a YAML or JSON spec (see examples/) and wait for it.
  --input KEY=VALUE  override one of the spec's inputs (repeatable; VALUE may be JSON)
  --pipeline-id ID   your own id (default pipeline-<name>-<random>); also the folder of its outputs
  --timeout 30m      the ceiling for the whole pipeline (10s to 168h; default the spec's timeout or 30m)
  --json             print exactly one JSON object`,
  },
  'pipeline status': {
    usage: ['pipeline status ID [--json]'],
    help: "A pipeline's steps: status, prediction ids, elapsed time.",
  },
  reconcile: {
    usage: [
      'reconcile [--apply] [--lookback 60m] [--grace 2m] [--json]',
      'reconcile --schedule 10m [--apply] [--lookback 60m] [--grace 2m] | --unschedule',
    ],
    help: `Find predictions no running workflow owns (orphans) and, with --apply, cancel them.
  --apply            cancel the orphans (default: report only)
  --lookback 60m     how far back to list jobs
  --grace 2m         ignore jobs younger than this
  --schedule 10m     run it on a Temporal Schedule (${'replicate-reconciler'}); --unschedule deletes it`,
  },
};
COMMANDS.pipeline = {
  usage: [...COMMANDS['pipeline run']!.usage, ...COMMANDS['pipeline status']!.usage],
  help: 'Multi-step pipelines: pipeline run FILE, pipeline status ID (each with --help).',
};

export const USAGE = `usage: ${CLI} <command> [flags]        (${CLI} <command> --help: its flags)
${['run', 'start', 'status', 'result', 'cancel', 'pipeline run', 'pipeline status', 'reconcile']
  .flatMap((name) => COMMANDS[name]!.usage)
  .map((line) => `  ${CLI} ${line}`)
  .join('\n')}
REF is owner/name, owner/name:<version>, a version id, or with --deployment a deployment owner/name.
JSON is the model input object, e.g. '{"prompt": "a lighthouse at dusk"}', or @file.json.`;

function commandHelp(name: string): string {
  const command = COMMANDS[name]!;
  return `usage: ${command.usage.map((line) => `${CLI} ${line}`).join('\n       ')}\n${command.help}`;
}

/** What `--json` prints for run/result: exactly one object. */
export interface RunSummary {
  workflowId: string;
  predictionId: string | null;
  status: 'succeeded' | 'failed' | 'canceled' | 'aborted' | 'timed_out' | 'terminated' | 'error';
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
  /** how long a waiting command gives the run before it checks that a worker polls its task queue (15 s) */
  noWorkerWarningMs?: number;
  /** aborted on Ctrl-C: a waiting command stops watching and says how to reattach (the run continues) */
  signal?: AbortSignal;
  /** on a terminal: show `line` as the one live status line, replacing the previous one; null clears it */
  live?: (line: string | null) => void;
  /** where the workers keep outputs too large for Temporal (claim checks; OUTPUT_DIR/.claims): printed whole */
  claims?: ClaimStore;
}

/** A usage error; `command` picks the usage line shown with it. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

/** A failure with a one-line explanation, printed as is (exit 2). */
class CliError extends Error {}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/** parseArgs for `command`, turning its errors into usage errors ("did you mean" for unknown flags). */
function parseFor<T extends Options>(command: string, args: string[], options: T, allowPositionals: boolean) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (error) {
    if (!isParseArgsError(error)) throw error;
    const unknown = /Unknown option '([^']+)'/.exec(error.message)?.[1];
    if (unknown) {
      const guess = closest(
        unknown.replace(/^-+/, ''),
        Object.keys(options ?? {}).filter((name) => name !== 'help'),
      );
      throw new UsageError(`unknown option ${unknown}${guess ? `; did you mean --${guess}?` : ''}`, command);
    }
    throw new UsageError(error.message, command);
  }
}

/** The candidate within a small edit distance of `word` (typos, transpositions, a missing dash), if any. */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const distance = editDistance(word.toLowerCase(), name.toLowerCase());
    if (distance <= (name.length >= 4 ? 2 : 1) && (!best || distance < best.distance))
      best = { name, distance };
  }
  return best?.name;
}

/** Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent transpositions. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  return d[a.length]![b.length]!;
}

const wantsHelp = (args: string[]) => args.includes('--help') || args.includes('-h');

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
    if (command === 'help' && rest[0] !== undefined) return await runCli([...rest, '--help'], ctx);
    const name =
      command === 'pipeline' && ['run', 'status'].includes(rest[0] ?? '') ? `pipeline ${rest[0]}` : command;
    if (name !== undefined && COMMANDS[name] && wantsHelp(rest)) {
      ctx.out(commandHelp(name));
      return EXIT.ok;
    }
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
      default: {
        const guess = closest(command, [...Object.keys(COMMANDS).filter((c) => !c.includes(' ')), 'help']);
        throw new UsageError(
          `unknown command "${command}"${guess ? `; did you mean ${guess}?` : `; see ${CLI} --help`}`,
        );
      }
    }
  } catch (error) {
    if (error instanceof UsageError) {
      const usage = error.command
        ? `usage: ${COMMANDS[error.command]!.usage.map((line) => `${CLI} ${line}`).join('\n       ')}\n` +
          `(${CLI} ${error.command} --help explains the flags)`
        : `usage: ${CLI} <command> [flags]; ${CLI} --help lists the commands`;
      ctx.err(`error: ${error.message}\n${usage}`);
      return EXIT.usage;
    }
    if (error instanceof ConfigError || error instanceof CliError) {
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
    if (isUnavailable(error)) {
      ctx.err(`error: ${temporalUnreachable(await addressOf(ctx), grpcReason(error))}`);
      return EXIT.usage;
    }
    throw error;
  }
}

/** The server's own words for a failed call (the gRPC cause), not the SDK's summary. */
function grpcReason(error: unknown): string {
  const cause = (error as { cause?: { details?: unknown; message?: unknown } }).cause;
  const details = typeof cause?.details === 'string' && cause.details ? cause.details : undefined;
  const message = typeof cause?.message === 'string' ? cause.message : undefined;
  return (details ?? message ?? (error as Error).message ?? String(error)).trim();
}

const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;

/** A call that failed because Temporal did not answer (server down, network). */
function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code ?? (error as { cause?: { code?: unknown } }).cause?.code;
  return (
    (error instanceof ServiceError || typeof code === 'number') &&
    (code === GRPC_UNAVAILABLE || code === GRPC_DEADLINE_EXCEEDED)
  );
}

async function addressOf(ctx: CliContext): Promise<string> {
  return ctx
    .client()
    .then((client) => addressOfClient(client))
    .catch(() => 'the configured address');
}

function addressOfClient(client: Client): string {
  return (client.connection as Partial<Connection>).options?.address ?? 'the configured address';
}

/** Clients that registered the search attributes (once per client, idempotent on the server). */
const registered = new WeakMap<Client, Promise<string | null>>();

/**
 * Start a workflow: the search attributes the workflows use are registered first (a fresh server has none until a
 * worker starts), and a refused start says the server's reason (exit 2).
 */
async function startWorkflow<H>(
  client: Client,
  workflowId: string,
  ctx: CliContext,
  start: () => Promise<H>,
): Promise<H> {
  let problem = registered.get(client);
  if (!problem) {
    problem = ensureSearchAttributes(client.connection, client.options.namespace).then(
      () => null,
      (error: unknown) => grpcReason(error),
    );
    registered.set(client, problem);
  }
  const registration = await problem;
  try {
    const handle = await start();
    if (registration) ctx.err(`warning: ${registration}`);
    return handle;
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError || isUnavailable(error)) throw error;
    throw new CliError(
      `cannot start workflow ${workflowId}: ${grpcReason(error)}${registration ? ` (also: ${registration})` : ''}`,
    );
  }
}

/** The ceiling flag of run, start and pipeline run: 10 s to 168 h. */
function parseCeiling(text: string, command: string): number {
  const timeout = parseDuration(text);
  if ('error' in timeout) throw new UsageError(`--timeout: ${timeout.error}`, command);
  if (!Number.isFinite(timeout.ms) || timeout.ms < 10_000 || timeout.ms > 7 * 24 * 3_600_000) {
    throw new UsageError(`--timeout: ${text} is out of range; use 10s to 168h`, command);
  }
  return timeout.ms;
}

function checkId(id: string | undefined, flag: string, command: string): void {
  const problem = id === undefined ? null : workflowIdProblem(id, flag);
  if (problem) throw new UsageError(problem, command);
}

async function startCommand(command: 'run' | 'start', args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseFor(command, args, RUN_OPTIONS, false);
  if (!values.model) throw new UsageError('--model is required', command);
  if (values.input === undefined)
    throw new UsageError('--input is required (a JSON object, e.g. \'{"prompt": "..."}\')', command);
  const input = parseInput(values.input, ctx, command);
  const timeoutMs = parseCeiling(values.timeout ?? '10m', command);
  const request: PredictionRequest = { model: values.model, input, deployment: values.deployment ?? false };
  const problems = validateRequest(request);
  if (problems.length > 0) throw new UsageError(problems.join('; '), command);

  const idFlag = values['workflow-id'];
  checkId(idFlag, '--workflow-id', command);
  const client = await ctx.client();
  const workflowId = idFlag ?? `prediction-${slug(values.model)}-${randomBytes(4).toString('hex')}`;
  const handle = await startWorkflow(client, workflowId, ctx, () =>
    client.workflow.start(runPrediction, {
      taskQueue: ctx.taskQueue,
      workflowId,
      args: [request],
      workflowExecutionTimeout: timeoutMs,
      staticSummary: summaryOf(request),
      staticDetails: detailsOf(request, timeoutMs),
    }),
  );
  if (command === 'start') {
    ctx.out(values.json ? JSON.stringify({ workflowId, runId: handle.firstExecutionRunId }) : workflowId);
    if (!values.json) {
      ctx.err(`next: ${CLI} result ${workflowId}    wait for it, showing its progress`);
      ctx.err(`      ${CLI} status ${workflowId}    its state now`);
      ctx.err(`      ${CLI} cancel ${workflowId}    cancel it (and its prediction at Replicate)`);
    }
    return EXIT.ok;
  }
  if (!values.json) ctx.out(`workflow ${workflowId} started (timeout ${humanDuration(timeoutMs)})`);
  return awaitOutcome(handle, values.json ?? false, ctx);
}

async function idCommand(
  command: 'status' | 'result' | 'cancel',
  args: string[],
  ctx: CliContext,
): Promise<number> {
  const { values, positionals } = parseFor(command, args, { json: { type: 'boolean' } }, true);
  if (positionals.length !== 1) throw new UsageError(`${command} takes one workflow id`, command);
  const client = await ctx.client();
  const handle = client.workflow.getHandle<typeof runPrediction>(positionals[0]!);
  const json = values.json ?? false;

  if (command === 'status') {
    const description = await handle.describe();
    const state = await statusOf(handle);
    const warning =
      description.status.name === 'RUNNING' ? await noWorkerProblem(client, description.taskQueue) : null;
    if (json) {
      ctx.out(
        JSON.stringify({
          workflowId: handle.workflowId,
          workflowStatus: description.status.name,
          ...state,
          ...(warning ? { warning } : {}),
        }),
      );
    } else {
      ctx.out(`workflow ${handle.workflowId}: ${description.status.name}`);
      if (state) printState(state, ctx);
      if (warning) ctx.out(`warning: ${warning}`);
    }
    return EXIT.ok;
  }
  if (command === 'cancel') {
    await handle.cancel();
    if (!json)
      ctx.out(`cancel requested for ${handle.workflowId}; waiting for the prediction to be canceled...`);
    return awaitOutcome(handle, json, ctx, false);
  }
  return awaitOutcome(handle, json, ctx);
}

/** "No worker polls `taskQueue`" and how to start one, or null when one does (or Temporal cannot tell). */
async function noWorkerProblem(client: Client, taskQueue: string): Promise<string | null> {
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
    `Start one in another terminal: ${env}TEMPORAL_TASK_QUEUE=${taskQueue} npm run worker ` +
    '(with REPLICATE_API_TOKEN set, or REPLICATE_BASE_URL pointing at the simulator; see the README)'
  );
}

/**
 * While a command waits for a run: after `noWorkerWarningMs` (then as often), check that a worker polls the run's
 * task queue, and say so once when none does. Returns a stop function.
 */
function watchForWorker(client: Client, taskQueue: () => Promise<string>, ctx: CliContext): () => void {
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
function interrupted(signal: AbortSignal | undefined): Promise<'interrupted'> {
  return new Promise((resolve) => {
    if (!signal) return;
    if (signal.aborted) resolve('interrupted');
    signal.addEventListener('abort', () => resolve('interrupted'), { once: true });
  });
}

/** What Ctrl-C prints: the run goes on, and how to come back to it. */
function stoppedWatching(ctx: CliContext, workflowId: string, pipeline = false): number {
  ctx.live?.(null);
  ctx.err(`stopped watching; the run continues on the server (workflow ${workflowId}).`);
  ctx.err(
    pipeline
      ? `reattach: ${CLI} pipeline status ${workflowId}    (cancel it in the Temporal UI)`
      : `reattach: ${CLI} result ${workflowId}    cancel it: ${CLI} cancel ${workflowId}`,
  );
  return EXIT.interrupted;
}

/** What `pipeline run --json` prints: exactly one object. */
export interface PipelineSummary {
  pipelineId: string;
  status: 'succeeded' | 'failed' | 'canceled' | 'timed_out' | 'terminated' | 'error';
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
    const { values, positionals } = parseFor('pipeline status', rest, { json: { type: 'boolean' } }, true);
    if (positionals.length !== 1)
      throw new UsageError('pipeline status takes one pipeline id', 'pipeline status');
    const client = await ctx.client();
    const handle = client.workflow.getHandle<typeof runPipeline>(positionals[0]!);
    const description = await handle.describe();
    const progress = await withLivePredictionIds(client, await handle.query(progressQuery));
    const warning =
      description.status.name === 'RUNNING' ? await noWorkerProblem(client, description.taskQueue) : null;
    if (values.json)
      ctx.out(
        JSON.stringify({
          workflowStatus: description.status.name,
          ...summarizePipeline(progress),
          ...(warning ? { warning } : {}),
        }),
      );
    else {
      printPipeline(progress, ctx, `pipeline ${handle.workflowId}: ${description.status.name}`);
      if (warning) ctx.out(`warning: ${warning}`);
    }
    return EXIT.ok;
  }
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
  const timeoutMs = parseCeiling(values.timeout ?? spec.timeout ?? '30m', 'pipeline run');
  checkId(values['pipeline-id'], '--pipeline-id', 'pipeline run');
  const client = await ctx.client();
  const pipelineId = values['pipeline-id'] ?? `pipeline-${spec.name}-${randomBytes(4).toString('hex')}`;
  const handle = await startWorkflow(client, pipelineId, ctx, () =>
    client.workflow.start(runPipeline, {
      taskQueue: ctx.taskQueue,
      workflowId: pipelineId,
      args: [{ spec, inputs }],
      workflowExecutionTimeout: timeoutMs,
      staticSummary: `pipeline ${spec.name}: ${Object.keys(spec.steps).join(' -> ')}`,
      typedSearchAttributes: [{ key: ReplicatePipelineId, value: pipelineId }],
    }),
  );
  const json = values.json ?? false;
  if (!json)
    ctx.out(
      `pipeline ${pipelineId} started (${Object.keys(spec.steps).length} steps, timeout ${humanDuration(timeoutMs)})`,
    );
  const started = Date.now();
  let stop = false;
  const seen = new Map<string, string>();
  const watcher = (async () => {
    while (!json && !stop) {
      const progress = await client
        .withDeadline(Date.now() + 2_000, () => handle.query(progressQuery))
        .then((p) => withLivePredictionIds(client, p))
        .catch(() => null);
      if (stop) break; // the query may have waited for a worker; the outcome is printed below
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
  const stopWorkerWatch = watchForWorker(client, async () => ctx.taskQueue, ctx);
  let summary: PipelineSummary;
  try {
    const outcome = await Promise.race([
      handle
        .result()
        .then(summarizePipeline, (error: unknown) => pipelineFailureSummary(handle.workflowId, error)),
      interrupted(ctx.signal),
    ]);
    if (outcome === 'interrupted') return stoppedWatching(ctx, pipelineId, true);
    summary = outcome;
  } catch (error) {
    if (isUnavailable(error)) throw connectionLost(client, pipelineId, error, true);
    throw error;
  } finally {
    stop = true;
    stopWorkerWatch();
    void watcher; // prints nothing once stopped
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
          error: s.error === null ? null : gaveUp(s.error),
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
    cause instanceof CancelledFailure
      ? 'canceled'
      : cause instanceof TimeoutFailure
        ? 'timed_out'
        : cause instanceof TerminatedFailure
          ? 'terminated'
          : 'error';
  const type = cause instanceof ApplicationFailure ? (cause.type ?? 'Error') : (cause?.name ?? 'Error');
  return {
    pipelineId,
    status,
    steps: {},
    manifest: null,
    cost: null,
    error: { type, message: gaveUp(cause?.message ?? error.message) },
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
  const { values } = parseFor(
    'reconcile',
    args,
    {
      apply: { type: 'boolean' },
      lookback: { type: 'string' },
      grace: { type: 'string' },
      schedule: { type: 'string' },
      unschedule: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    false,
  );
  const minutes = (flag: string, text: string | undefined, fallback: string) => {
    const d = parseDuration(text ?? fallback);
    if ('error' in d) throw new UsageError(`--${flag}: ${d.error}`, 'reconcile');
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
    if (every < 60_000)
      throw new UsageError('--schedule: run it at most once a minute (e.g. 10m)', 'reconcile');
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
  const reconcileId = `reconcile-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  const reconcile = await startWorkflow(client, reconcileId, ctx, () =>
    client.workflow.start(reconcileOrphans, {
      taskQueue: ctx.taskQueue,
      workflowId: reconcileId,
      args: [options],
      workflowExecutionTimeout: '10m',
    }),
  );
  const stopWorkerWatch = watchForWorker(client, async () => ctx.taskQueue, ctx);
  const report = await reconcile.result().finally(stopWorkerWatch);
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

/**
 * Wait for the run and print the outcome. Unless `json`, show its progress: status changes as lines; on a terminal
 * (`ctx.live`) one live line with elapsed time, polls and the latest log line; in a pipe each new log line, and a
 * line every 30 s when nothing else was printed. Warns when no worker polls its task queue; Ctrl-C stops watching.
 */
async function awaitOutcome(
  handle: WorkflowHandle<typeof runPrediction>,
  json: boolean,
  ctx: CliContext,
  progress = true,
): Promise<number> {
  const started = Date.now();
  const elapsed = () => humanDuration(Date.now() - started).padStart(7);
  const live = ctx.live;
  let stop = false;
  let wake: () => void = () => {};
  const watcher = (async () => {
    let lastLine = '';
    let logs: string[] = [];
    let printedAt = Date.now();
    while (progress && !json && !stop) {
      const state = await statusOf(handle);
      // terminal states are printed once, with the outcome, below
      if (!stop && state && (state.status === 'creating' || !isTerminal(state.status))) {
        const line = `${state.status}${state.predictionId ? `  prediction ${state.predictionId}` : ''}`;
        const fresh = newLines(logs, state.logsTail);
        logs = state.logsTail;
        const permanent: string[] = [];
        if (line !== lastLine) permanent.push(`${elapsed()}  ${line}`);
        if (!live) permanent.push(...fresh.map((log) => `${' '.repeat(7)}  | ${log}`));
        if (!live && permanent.length === 0 && Date.now() - printedAt >= 30_000)
          permanent.push(`${elapsed()}  ${state.status}  (${plural(state.polls, 'poll')})`);
        if (permanent.length > 0) {
          live?.(null);
          for (const text of permanent) ctx.out(text);
          printedAt = Date.now();
        }
        lastLine = line;
        const lastLog = state.logsTail.at(-1);
        live?.(`${elapsed()}  ${line}  ${plural(state.polls, 'poll')}${lastLog ? `  | ${lastLog}` : ''}`);
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 300);
      });
    }
  })();
  const client = await ctx.client();
  let queue: Promise<string> | undefined;
  const stopWorkerWatch = watchForWorker(
    client,
    () => (queue ??= handle.describe().then((d) => d.taskQueue)),
    ctx,
  );

  let summary: RunSummary;
  try {
    const outcome = await Promise.race([outcomeOf(handle, ctx.claims), interrupted(ctx.signal)]);
    if (outcome === 'interrupted') return stoppedWatching(ctx, handle.workflowId);
    summary = outcome;
  } catch (error) {
    if (isUnavailable(error)) throw connectionLost(client, handle.workflowId, error);
    throw error;
  } finally {
    stop = true;
    wake();
    stopWorkerWatch();
    void watcher; // its query may wait for a worker; it prints nothing once stopped
    live?.(null);
  }
  if (json) {
    ctx.out(JSON.stringify(summary));
  } else if (summary.status === 'succeeded') {
    ctx.out(
      `${elapsed()}  succeeded  prediction ${summary.predictionId}` +
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

/** The lines of `next` (a log tail) that come after what `previous` (the tail seen before) already showed. */
export function newLines(previous: string[], next: string[]): string[] {
  for (let k = Math.min(previous.length, next.length); k > 0; k--) {
    if (previous.slice(previous.length - k).every((line, i) => line === next[i])) return next.slice(k);
  }
  return next;
}

const plural = (n: number, word: string) => `${word}${n === 1 ? '' : 's'} ${n}`;

/** The connection dropped while a command waited: one line, and how to come back to the run. */
function connectionLost(client: Client, workflowId: string, error: unknown, pipeline = false): CliError {
  const reattach = pipeline ? `pipeline status ${workflowId}` : `result ${workflowId}`;
  return new CliError(
    `lost the connection to Temporal at ${addressOfClient(client)} (${grpcReason(error)}); ` +
      `the run continues on the server: once it answers again, reattach with ${CLI} ${reattach}. ${temporalUnreachableHint}`,
  );
}

/**
 * The run's `status` query, or null when it fails or takes over 2 s (a query needs a worker: with none polling it
 * would wait for one).
 */
async function statusOf(handle: WorkflowHandle<typeof runPrediction>): Promise<PredictionState | null> {
  return handle.client.withDeadline(Date.now() + 2_000, () => handle.query(statusQuery)).catch(() => null);
}

/** The outcome of a run as the `--json` object. */
export async function outcomeOf(
  handle: WorkflowHandle<typeof runPrediction>,
  claims?: ClaimStore,
): Promise<RunSummary> {
  const base = { workflowId: handle.workflowId, output: null, metrics: null };
  try {
    const result = await handle.result();
    return {
      ...base,
      predictionId: result.id,
      status: 'succeeded',
      // a large output travels as a claim reference: print the value itself (the reference if unreadable here)
      output: claims ? await resolveClaims(result.output, claims).catch(() => result.output) : result.output,
      metrics: result.metrics,
      error: null,
    };
  } catch (error) {
    if (!(error instanceof WorkflowFailedError)) throw error;
    const state = await statusOf(handle);
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
        status: cause instanceof TimeoutFailure ? 'timed_out' : 'terminated',
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
        message: gaveUp(failure?.message ?? cause?.message ?? error.message),
        logsTail: details?.logsTail,
      },
    };
  }
}

/**
 * A run's final failure can carry its last attempt's words ("...; will retry"): the run has given up, so say that
 * instead.
 */
function gaveUp(message: string): string {
  const final = message.replace(/;\s*(will retry|retrying in [^;]*)\s*$/i, '');
  return final === message ? message : `${final}; gave up (no attempts or time left)`;
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

function parseInput(text: string, ctx: CliContext, command: string): Record<string, unknown> {
  let source = text;
  if (text.startsWith('@')) {
    if (!ctx.readFile) throw new UsageError('--input @file is not supported here', command);
    try {
      source = ctx.readFile(text.slice(1));
    } catch (error) {
      throw new UsageError(`--input: cannot read ${text.slice(1)}: ${(error as Error).message}`, command);
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(source);
  } catch (error) {
    throw new UsageError(
      `--input is not valid JSON (${(error as Error).message}); quote it, e.g. --input '{"prompt": "a cat"}'`,
      command,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(
      `--input must be a JSON object such as {"prompt": "a cat"}, got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`,
      command,
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

/** The live line on a terminal: rewritten in place, cut to the width so it never wraps. */
export function terminalLine(stream: NodeJS.WriteStream): (line: string | null) => void {
  let shown = false;
  return (line) => {
    if (line === null) {
      if (shown) stream.write('\r\x1b[2K');
      shown = false;
      return;
    }
    const width = Math.max(20, (stream.columns ?? 80) - 1);
    stream.write(`\r\x1b[2K${line.length > width ? `${line.slice(0, width - 1)}…` : line}`);
    shown = true;
  };
}

/** Connect lazily, explaining an unreachable server in one line. */
export function connectLazily(config: TemporalConfig): () => Promise<Client> {
  let client: Promise<Client> | undefined;
  return () =>
    (client ??= Connection.connect({ address: config.address, connectTimeout: '5s' }).then(
      (connection) => new Client({ connection, namespace: config.namespace }),
      (error: unknown) => {
        throw new ConfigError(temporalUnreachable(config.address, (error as Error).message));
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
    // Ctrl-C: a waiting command stops watching and says how to reattach; a second one (or none waiting) exits.
    const interrupt = new AbortController();
    process.once('SIGINT', () => {
      interrupt.abort();
      setTimeout(() => process.exit(EXIT.interrupted), 2_000).unref();
    });
    return runCli(process.argv.slice(2), {
      client: connectLazily(config),
      taskQueue: config.taskQueue,
      out: (line) => console.log(line),
      err: (line) => console.error(line),
      readFile: (path) => readFileSync(path, 'utf8'),
      claims: fileClaimStore(join(process.env.OUTPUT_DIR?.trim() || 'outputs', '.claims')),
      signal: interrupt.signal,
      live: process.stdout.isTTY ? terminalLine(process.stdout) : undefined,
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
