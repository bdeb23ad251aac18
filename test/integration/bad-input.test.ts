/**
 * (Over 400 lines on purpose: two tables of malformed requests; each row is a case.)
 * Malformed requests: each one ends in a typed, human-readable error within 3 s, from the CLI and from the
 * workflow, and none is retried. Two tables:
 *  - rejected by us (validate.ts, model-ref.ts, the CLI's parser): no HTTP request at all, the CLI exits 2 without
 *    contacting Temporal, the workflow fails with InvalidPredictionRequest before scheduling any activity;
 *  - rejected by Replicate (the simulator): exactly one HTTP exchange, nothing stored, one create activity with
 *    attempt 1 in the history, the workflow fails with the typed Replicate* error, `run --json` exits 1 with it.
 * One testbed for the file; a second, bare simulator with a 1,000-byte body limit serves the 413 case.
 */
import { readFileSync } from 'node:fs';
import { ActivityFailure } from '@temporalio/client';
import { RetryState } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT, runCli, type RunSummary } from '../../src/cli';
import { PredictionFailureType, ReplicateErrorType } from '../../src/shared/failures';
import { MAX_INPUT_BYTES } from '../../src/shared/validate';
import type { PredictionRequest } from '../../src/shared/types';
import { ReplicateSimulator } from '../../simulator';
import { SECRET_TOKEN, failureOf, startTestbed, type Testbed } from '../helpers/testbed';

/** Every malformed request must be answered within this. */
const LIMIT_MS = 3_000;
/** The simulator behind the `small-body` worker answers 413 to create bodies over this. */
const SMALL_SIM_MAX_BODY_BYTES = 1_000;

let bed: Testbed;
let smallSim: ReplicateSimulator;
beforeAll(async () => {
  bed = await startTestbed({ seed: 7 });
  smallSim = new ReplicateSimulator({ token: SECRET_TOKEN, maxBodyBytes: SMALL_SIM_MAX_BODY_BYTES });
  await smallSim.start();
});
afterAll(async () => {
  await smallSim?.stop();
  await bed?.teardown();
});

type Match = string | RegExp;
type StartOptions = Parameters<Testbed['start']>[1];
/** Which worker serves the case: the testbed's, one with a wrong token, or one pointed at the 1,000-byte simulator. */
type WorkerKind = 'default' | 'wrong-token' | 'small-body';

const hex = (c: string): string => c.repeat(64);
const IMAGEN = 'google/imagen-4-ultra';
const OK_INPUT = '{"prompt":"a lighthouse at dusk"}';
const run = (...args: string[]): string[] => ['run', ...args];
/** `run --model imagen --input {...}` plus `extra` */
const runImagen = (...extra: string[]): string[] => run('--model', IMAGEN, '--input', OK_INPUT, ...extra);
const USAGE_HINT = 'usage: npm run -s client -- '; // then the usage line of the command at fault
/** One byte over MAX_INPUT_BYTES once serialised with its key. */
const OVERSIZED_INPUT = { prompt: 'x'.repeat(MAX_INPUT_BYTES) };
const OVERSIZED_BYTES = Buffer.byteLength(JSON.stringify(OVERSIZED_INPUT));

/** Malformed requests that our own validation rejects: nothing reaches Replicate. */
interface OurRejection {
  name: string;
  /** runPrediction's argument, as a client that bypasses the CLI could send it */
  request?: unknown;
  startOptions?: StartOptions;
  /** fragments of the InvalidPredictionRequest message */
  workflowMessage?: Match[];
  /** `runCli` argv, and fragments of what it prints on stderr before exiting 2 */
  argv?: string[];
  cliMessage?: Match[];
}

const ourRejections: OurRejection[] = [
  // ---- model references
  {
    name: 'model: empty string',
    request: { model: '', input: { prompt: 'x' } },
    workflowMessage: ['model: missing; give owner/name, owner/name:<64-hex version>'],
    argv: run('--model', '', '--input', OK_INPUT),
    cliMessage: ['--model is required'],
  },
  {
    name: 'model: whitespace only',
    request: { model: '   ', input: { prompt: 'x' } },
    workflowMessage: ['model: missing'],
    argv: run('--model', '   ', '--input', OK_INPUT),
    cliMessage: ['model: missing'],
  },
  {
    name: 'model: not a string',
    request: { model: 42, input: { prompt: 'x' } },
    workflowMessage: ['model: must be a string'],
  },
  {
    name: 'model: no owner',
    request: { model: 'imagen-4-ultra', input: { prompt: 'x' } },
    workflowMessage: ['model: "imagen-4-ultra" is not a model reference; use owner/name'],
    argv: run('--model', 'imagen-4-ultra', '--input', OK_INPUT),
    cliMessage: ['model: "imagen-4-ultra" is not a model reference'],
  },
  {
    name: 'model: too many slashes',
    request: { model: 'google/imagen/4-ultra', input: { prompt: 'x' } },
    workflowMessage: ['model: "google/imagen/4-ultra" is not a model reference'],
    argv: run('--model', 'google/imagen/4-ultra', '--input', OK_INPUT),
    cliMessage: ['model: "google/imagen/4-ultra" is not a model reference'],
  },
  {
    name: 'model: short version hash',
    request: { model: `${IMAGEN}:abc123`, input: { prompt: 'x' } },
    workflowMessage: [`model: "${IMAGEN}:abc123" has a malformed version`, '64 lowercase hex characters'],
    argv: run('--model', `${IMAGEN}:abc123`, '--input', OK_INPUT),
    cliMessage: ['has a malformed version'],
  },
  {
    name: 'model: uppercase version hash',
    request: { model: `${IMAGEN}:${hex('A')}`, input: { prompt: 'x' } },
    workflowMessage: [`model: "${IMAGEN}:${hex('A')}" has a malformed version`],
    argv: run('--model', `${IMAGEN}:${hex('A')}`, '--input', OK_INPUT),
    cliMessage: ['has a malformed version', '64 lowercase hex characters'],
  },
  {
    name: 'model: empty version after the colon',
    request: { model: `${IMAGEN}:`, input: { prompt: 'x' } },
    workflowMessage: ['has a malformed version'],
    argv: run('--model', `${IMAGEN}:`, '--input', OK_INPUT),
    cliMessage: ['has a malformed version'],
  },
  {
    name: 'model: version on a deployment',
    request: { model: `acme/imagen-prod:${hex('a')}`, deployment: true, input: { prompt: 'x' } },
    workflowMessage: ['is not a deployment name; deployments are written owner/name (no version)'],
    argv: run('--deployment', '--model', `acme/imagen-prod:${hex('a')}`, '--input', OK_INPUT),
    cliMessage: ['is not a deployment name'],
  },
  {
    name: 'model: leading whitespace',
    request: { model: ` ${IMAGEN}`, input: { prompt: 'x' } },
    workflowMessage: [`model: " ${IMAGEN}" is not a model reference`],
    argv: run('--model', ` ${IMAGEN}`, '--input', OK_INPUT),
    cliMessage: ['is not a model reference'],
  },
  {
    name: 'model: spaces inside',
    request: { model: 'google/imagen 4 ultra', input: { prompt: 'x' } },
    workflowMessage: ['model: "google/imagen 4 ultra" is not a model reference'],
    argv: run('--model', 'google/imagen 4 ultra', '--input', OK_INPUT),
    cliMessage: ['is not a model reference'],
  },
  {
    name: 'model: trailing newline',
    request: { model: `${IMAGEN}\n`, input: { prompt: 'x' } },
    workflowMessage: ['is not a model reference'],
    argv: run('--model', `${IMAGEN}\n`, '--input', OK_INPUT),
    cliMessage: ['is not a model reference'],
  },
  // ---- the model input
  {
    name: 'input: an array',
    request: { model: IMAGEN, input: [{ prompt: 'x' }] },
    workflowMessage: ['input: must be a JSON object such as {"prompt": "..."}, got an array'],
    argv: run('--model', IMAGEN, '--input', '[{"prompt":"x"}]'),
    cliMessage: ['--input must be a JSON object', 'got an array'],
  },
  {
    name: 'input: a string',
    request: { model: IMAGEN, input: 'a lighthouse' },
    workflowMessage: ['input: must be a JSON object', 'got "a lighthouse"'],
    argv: run('--model', IMAGEN, '--input', '"a lighthouse"'),
    cliMessage: ['--input must be a JSON object', 'got "a lighthouse"'],
  },
  {
    name: 'input: a number',
    request: { model: IMAGEN, input: 42 },
    workflowMessage: ['input: must be a JSON object', 'got 42'],
    argv: run('--model', IMAGEN, '--input', '42'),
    cliMessage: ['--input must be a JSON object', 'got 42'],
  },
  {
    name: 'input: null',
    request: { model: IMAGEN, input: null },
    workflowMessage: ['input: must be a JSON object', 'got null'],
    argv: run('--model', IMAGEN, '--input', 'null'),
    cliMessage: ['--input must be a JSON object', 'got null'],
  },
  {
    name: 'input: missing',
    request: { model: IMAGEN },
    workflowMessage: ['input: must be a JSON object', 'got nothing'],
    argv: run('--model', IMAGEN),
    cliMessage: ['--input is required'],
  },
  {
    name: 'input: over our 1,000,000-byte limit',
    request: { model: 'sim/echo', input: OVERSIZED_INPUT },
    workflowMessage: [`input: ${OVERSIZED_BYTES} bytes of JSON is over the 1000000-byte limit`, 'URLs'],
    argv: run('--model', 'sim/echo', '--input', JSON.stringify(OVERSIZED_INPUT)),
    cliMessage: ['is over the 1000000-byte limit; pass large files as URLs'],
  },
  // ---- bad JSON on the command line
  {
    name: "--input '{bad'",
    argv: run('--model', IMAGEN, '--input', '{bad'),
    cliMessage: ['--input is not valid JSON', `quote it, e.g. --input '{"prompt": "a cat"}'`],
  },
  {
    name: "--input ''",
    argv: run('--model', IMAGEN, '--input', ''),
    cliMessage: ['--input is not valid JSON'],
  },
  {
    name: '--input with trailing garbage',
    argv: run('--model', IMAGEN, '--input', '{"prompt":"x"} and more'),
    cliMessage: ['--input is not valid JSON'],
  },
  {
    name: '--input with single quotes',
    argv: run('--model', IMAGEN, '--input', "{'prompt':'x'}"),
    cliMessage: ['--input is not valid JSON'],
  },
  {
    name: '--input @file that does not exist',
    argv: run('--model', IMAGEN, '--input', '@/nonexistent/bad-input.json'),
    cliMessage: ['--input: cannot read /nonexistent/bad-input.json', 'ENOENT'],
  },
  // ---- the ceiling
  {
    name: '--timeout=-5m (negative)',
    argv: runImagen('--timeout=-5m'),
    cliMessage: ['--timeout: "-5m" is not a duration: use e.g. 30s, 10m or 1h30m'],
  },
  {
    name: '--timeout -5m (looks like a flag)',
    argv: runImagen('--timeout', '-5m'),
    cliMessage: ["Option '--timeout' argument is ambiguous"],
  },
  {
    name: '--timeout 0s',
    argv: runImagen('--timeout', '0s'),
    cliMessage: ['--timeout: 0s is out of range; use 10s to 168h'],
  },
  {
    name: '--timeout 9s (just under the minimum)',
    argv: runImagen('--timeout', '9s'),
    cliMessage: ['--timeout: 9s is out of range'],
  },
  {
    name: '--timeout 1000h (absurd)',
    argv: runImagen('--timeout', '1000h'),
    cliMessage: ['--timeout: 1000h is out of range; use 10s to 168h'],
  },
  {
    name: '--timeout 600 (no unit)',
    argv: runImagen('--timeout', '600'),
    cliMessage: ['--timeout: "600" has no unit: write e.g. 600s or 600m'],
  },
  {
    name: '--timeout soon',
    argv: runImagen('--timeout', 'soon'),
    cliMessage: ['--timeout: "soon" is not a duration'],
  },
  {
    name: "--timeout ''",
    argv: runImagen('--timeout', ''),
    cliMessage: ['--timeout: "" is not a duration'],
  },
  {
    name: 'workflow execution timeout too short for the deadline margin',
    request: { model: IMAGEN, input: { prompt: 'x' } },
    startOptions: { workflowExecutionTimeout: '5s' },
    workflowMessage: [/the workflow execution timeout leaves \d+ ms before the deadline \(margin 2000 ms\)/],
  },
  {
    name: 'deadlineMarginMs as long as the whole timeout',
    request: { model: IMAGEN, input: { prompt: 'x' }, deadlineMarginMs: 3_600_000 },
    workflowMessage: ['leaves 0 ms before the deadline (margin 3600000 ms); start it with a longer timeout'],
  },
  {
    name: 'deadlineMarginMs negative',
    request: { model: IMAGEN, input: { prompt: 'x' }, deadlineMarginMs: -1 },
    workflowMessage: ['deadlineMarginMs: must be a number from 0 to 3600000, got -1'],
  },
  // ---- polling
  {
    name: 'polling.initialIntervalMs negative',
    request: { model: IMAGEN, input: { prompt: 'x' }, polling: { initialIntervalMs: -1 } },
    workflowMessage: ['polling.initialIntervalMs: must be a number from 100 to 3600000, got -1'],
  },
  {
    // JSON has no NaN: the payload converter sends null, which must still be refused
    name: 'polling.initialIntervalMs NaN',
    request: { model: IMAGEN, input: { prompt: 'x' }, polling: { initialIntervalMs: NaN } },
    workflowMessage: ['polling.initialIntervalMs: must be a number from 100 to 3600000, got null'],
  },
  {
    name: 'polling.initialIntervalMs huge',
    request: { model: IMAGEN, input: { prompt: 'x' }, polling: { initialIntervalMs: 1e12 } },
    workflowMessage: ['polling.initialIntervalMs: must be a number from 100 to 3600000, got 1000000000000'],
  },
  {
    name: 'polling.initialIntervalMs a string',
    request: { model: IMAGEN, input: { prompt: 'x' }, polling: { initialIntervalMs: '100ms' } },
    workflowMessage: ['polling.initialIntervalMs: must be a number from 100 to 3600000, got "100ms"'],
  },
  {
    name: 'polling.multiplier below 1',
    request: { model: IMAGEN, input: { prompt: 'x' }, polling: { multiplier: 0.5 } },
    workflowMessage: ['polling.multiplier: must be a number from 1 to 10, got 0.5'],
  },
  {
    name: 'polling.maxIntervalMs below initialIntervalMs',
    request: {
      model: IMAGEN,
      input: { prompt: 'x' },
      polling: { initialIntervalMs: 5_000, maxIntervalMs: 1_000 },
    },
    workflowMessage: ['polling.maxIntervalMs: must be at least polling.initialIntervalMs'],
  },
  {
    name: 'polling not an object',
    request: { model: IMAGEN, input: { prompt: 'x' }, polling: 'fast' },
    workflowMessage: [
      'polling: must be an object {initialIntervalMs, multiplier, maxIntervalMs, predictive}',
    ],
  },
  {
    name: 'maxPollsPerRun 0',
    request: { model: IMAGEN, input: { prompt: 'x' }, maxPollsPerRun: 0 },
    workflowMessage: ['maxPollsPerRun: must be a number from 1 to 10000, got 0'],
  },
  // ---- flags and the request as a whole
  {
    name: 'deployment not a boolean',
    request: { model: 'acme/imagen-prod', deployment: 'yes', input: { prompt: 'x' } },
    workflowMessage: ['deployment: must be true or false'],
    argv: run('--deployment=yes', '--model', 'acme/imagen-prod', '--input', OK_INPUT),
    cliMessage: ["Option '--deployment' does not take an argument"],
  },
  {
    name: 'searchAttributes not a boolean',
    request: { model: IMAGEN, input: { prompt: 'x' }, searchAttributes: 'no' },
    workflowMessage: ['searchAttributes: must be true or false'],
  },
  {
    name: 'request not an object',
    request: null,
    workflowMessage: ['invalid prediction request: request: must be an object {model, input, ...}'],
  },
  {
    name: 'several problems at once, all named',
    request: { model: 'nope', input: [], polling: { multiplier: 0 }, maxPollsPerRun: -3 },
    workflowMessage: [
      'model: "nope" is not a model reference',
      'input: must be a JSON object',
      'polling.multiplier: must be a number from 1 to 10, got 0',
      'maxPollsPerRun: must be a number from 1 to 10000, got -3',
    ],
  },
  {
    name: 'unknown CLI flag',
    argv: runImagen('--colour', 'red'),
    cliMessage: ['unknown option --colour'],
  },
  {
    name: 'unknown command',
    argv: ['frobnicate', '--model', IMAGEN],
    cliMessage: ['unknown command "frobnicate"'],
  },
  {
    name: 'missing --model',
    argv: run('--input', OK_INPUT),
    cliMessage: ['--model is required'],
  },
  {
    name: '--model without a value',
    argv: run('--input', OK_INPUT, '--model'),
    cliMessage: ["Option '--model <value>' argument missing"],
  },
  {
    name: 'model given as a positional argument',
    argv: run(IMAGEN, '--input', OK_INPUT),
    cliMessage: [`Unexpected argument '${IMAGEN}'`],
  },
  {
    name: 'start (not run) with a malformed model',
    argv: ['start', '--model', 'not a model', '--input', OK_INPUT],
    cliMessage: ['model: "not a model" is not a model reference'],
  },
];

/** Malformed requests that Replicate rejects: one HTTP exchange, nothing stored, never retried. */
interface ReplicateRejection {
  name: string;
  request: PredictionRequest;
  worker?: WorkerKind;
  type: string;
  /** what the simulator must have seen, for each of the two paths: exactly this one exchange */
  route: string;
  status: number;
  /** fragments of the message (Replicate's `detail`, our hint) */
  message: Match[];
  /** expected subset of the activity failure's details (`{httpStatus, detail, invalidFields}`) */
  details?: Record<string, unknown>;
}

const replicateRejections: ReplicateRejection[] = [
  {
    name: 'unknown model (404 on the model route)',
    request: { model: 'nobody/no-such-model', input: { prompt: 'x' } },
    type: ReplicateErrorType.NotFound,
    route: 'models.predictions.create',
    status: 404,
    message: ['(404 The requested resource could not be found.)', 'check the model, version, deployment'],
  },
  {
    name: 'unknown version of a known model (422)',
    request: { model: `${IMAGEN}:${hex('0')}`, input: { prompt: 'x' } },
    type: ReplicateErrorType.InvalidInput,
    route: 'predictions.create',
    status: 422,
    message: ['422 Invalid version or not permitted: The specified version does not exist'],
  },
  {
    name: 'unknown bare version id (422)',
    request: { model: hex('f'), input: { prompt: 'x' } },
    type: ReplicateErrorType.InvalidInput,
    route: 'predictions.create',
    status: 422,
    message: ['Invalid version or not permitted'],
  },
  {
    name: 'unknown deployment (404)',
    request: { model: 'acme/no-such-deployment', deployment: true, input: { prompt: 'x' } },
    type: ReplicateErrorType.NotFound,
    route: 'deployments.predictions.create',
    status: 404,
    message: ['acme/no-such-deployment', 'The requested resource could not be found.'],
  },
  {
    name: 'wrong token (401)',
    request: { model: IMAGEN, input: { prompt: 'x' } },
    worker: 'wrong-token',
    type: ReplicateErrorType.Unauthorized,
    route: 'models.predictions.create',
    status: 401,
    message: ['401 Unauthenticated: You did not pass a valid authentication token', 'REPLICATE_API_TOKEN'],
  },
  {
    name: 'billing not set up (402)',
    request: { model: 'sim/billing', input: { prompt: 'x' } },
    type: ReplicateErrorType.PaymentRequired,
    route: 'models.predictions.create',
    status: 402,
    message: ['402 Billing required: You need to set up billing to run this model', 'account/billing'],
  },
  {
    name: 'forbidden (403)',
    request: { model: 'sim/forbidden', input: { prompt: 'x' } },
    type: ReplicateErrorType.Forbidden,
    route: 'models.predictions.create',
    status: 403,
    message: ['403 Forbidden: You do not have permission to perform this action.', 'no access'],
  },
  {
    name: 'required prompt missing (422 invalid_fields)',
    request: { model: IMAGEN, input: { promptt: 'typo' } },
    type: ReplicateErrorType.InvalidInput,
    route: 'models.predictions.create',
    status: 422,
    message: ['422 Input validation failed', 'invalid fields: input: prompt is required', 'model schema'],
    details: {
      httpStatus: 422,
      invalidFields: [{ type: 'required', field: 'input', description: 'prompt is required' }],
    },
  },
  {
    name: 'required prompt null (422 invalid_fields)',
    request: { model: IMAGEN, input: { prompt: null } },
    type: ReplicateErrorType.InvalidInput,
    route: 'models.predictions.create',
    status: 422,
    message: ['invalid fields: input: prompt is required'],
  },
  {
    name: 'required prompt missing through a deployment (422)',
    request: { model: 'acme/imagen-prod', deployment: true, input: {} },
    type: ReplicateErrorType.InvalidInput,
    route: 'deployments.predictions.create',
    status: 422,
    message: ['invalid fields: input: prompt is required'],
  },
  {
    name: 'required image missing (422)',
    request: { model: 'nightmareai/real-esrgan', input: { scale: 4 } },
    type: ReplicateErrorType.InvalidInput,
    route: 'models.predictions.create',
    status: 422,
    message: ['invalid fields: input: image is required'],
    details: { invalidFields: [{ type: 'required', field: 'input', description: 'image is required' }] },
  },
  {
    name: 'body over the API limit, under ours (413)',
    request: { model: 'sim/echo', input: { prompt: 'x'.repeat(2 * SMALL_SIM_MAX_BODY_BYTES) } },
    worker: 'small-body',
    type: ReplicateErrorType.RequestRejected,
    route: 'models.predictions.create',
    status: 413,
    message: [
      `413 Payload too large: Request body exceeds the limit of ${SMALL_SIM_MAX_BODY_BYTES} bytes`,
      'pass big files as URLs',
    ],
    details: { httpStatus: 413 },
  },
];

// ---------------------------------------------------------------- helpers

async function onWorker<T>(
  kind: WorkerKind,
  fn: (taskQueue: string, sim: ReplicateSimulator) => Promise<T>,
): Promise<T> {
  if (kind === 'default') return fn(bed.config.taskQueue, bed.sim);
  if (kind === 'wrong-token') return bed.withWorker({ replicateToken: 'wrong' }, (tq) => fn(tq, bed.sim));
  return bed.withWorker({ replicateBaseUrl: smallSim.baseUrl }, (tq) => fn(tq, smallSim));
}

/** Requests the simulator receives from now on, and how many predictions it stores meanwhile. */
function watch(sim: ReplicateSimulator): { seen: () => string[]; stored: () => number } {
  const start = sim.requests.length;
  const creates = sim.creates();
  return {
    seen: () => sim.requests.slice(start).map((r) => `${r.route} ${r.status}`),
    stored: () => sim.creates() - creates,
  };
}

async function cli(
  argv: string[],
  taskQueue = bed.config.taskQueue,
): Promise<{ code: number; out: string[]; err: string[]; connected: boolean; ms: number }> {
  const out: string[] = [];
  const err: string[] = [];
  let connected = false;
  const started = Date.now();
  const code = await runCli(argv, {
    client: async () => {
      connected = true;
      return bed.env.client;
    },
    taskQueue,
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    readFile: (file) => readFileSync(file, 'utf8'),
  });
  return { code, out, err, connected, ms: Date.now() - started };
}

function expectReadable(text: string, fragments: Match[]): void {
  for (const f of fragments) {
    if (typeof f === 'string') expect(text).toContain(f);
    else expect(text).toMatch(f);
  }
  expect(text).not.toMatch(/\[object Object\]|\bundefined\b|\bNaN\b|^\s+at .+:\d+:\d+\)?$/m);
}

/** The parts of a run's history that show whether anything was retried. */
async function historyOf(workflowId: string) {
  const events = (await bed.env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  return {
    workflowAttempt: events[0]?.workflowExecutionStartedEventAttributes?.attempt,
    activitiesScheduled: events
      .filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => e.activityTaskScheduledEventAttributes!.activityType?.name),
    activityAttempts: events
      .filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt),
    activitiesFailed: events.filter((e) => e.activityTaskFailedEventAttributes).length,
    workflowTasksFailed: events.filter((e) => e.workflowTaskFailedEventAttributes).length,
    workflowsFailed: events.filter((e) => e.workflowExecutionFailedEventAttributes).length,
  };
}

const NO_ACTIVITY = {
  workflowAttempt: 1,
  activitiesScheduled: [],
  activityAttempts: [],
  activitiesFailed: 0,
  workflowTasksFailed: 0,
  workflowsFailed: 1,
};
const ONE_CREATE_ONE_ATTEMPT = {
  ...NO_ACTIVITY,
  activitiesScheduled: ['createPrediction'],
  activityAttempts: [1],
  activitiesFailed: 1,
};

/** Start runPrediction with `request` and wait for its failure, timing both. */
async function failedRun(request: unknown, taskQueue: string, options: StartOptions = {}) {
  const started = Date.now();
  const handle = await bed.start(request as PredictionRequest, { taskQueue, ...options });
  const { error, failure } = await failureOf(handle);
  return { handle, error, failure, ms: Date.now() - started };
}

// ---------------------------------------------------------------- cases

describe('malformed requests: typed, human-readable, within 3 s, never retried', () => {
  it('covers at least 30 distinct malformed requests', () => {
    const names = [...ourRejections, ...replicateRejections].map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.length).toBeGreaterThanOrEqual(30);
  });

  describe('rejected by our own validation: no HTTP request, CLI exits 2, workflow InvalidPredictionRequest', () => {
    it.each(ourRejections)('$name', async (c) => {
      expect(c.request !== undefined || c.argv !== undefined).toBe(true);
      const sim = watch(bed.sim);

      if (c.argv) {
        const { code, out, err, connected, ms } = await cli(c.argv);
        expect(ms).toBeLessThan(LIMIT_MS);
        expect(code).toBe(EXIT.usage);
        expect(out).toEqual([]);
        expect(err).toHaveLength(1);
        expect(err[0]).toMatch(/^error: /);
        const usageAt = err[0]!.indexOf(`\n${USAGE_HINT}`);
        expect(usageAt).toBeGreaterThan(0); // the message, then the usage text
        expectReadable(err[0]!.slice(0, usageAt), c.cliMessage ?? []);
        expect(connected).toBe(false); // refused before Temporal is even contacted
      }

      if (c.workflowMessage) {
        const { handle, error, failure, ms } = await failedRun(
          c.request,
          bed.config.taskQueue,
          c.startOptions,
        );
        expect(ms).toBeLessThan(LIMIT_MS);
        expect(failure.type).toBe(PredictionFailureType.InvalidRequest);
        expect(failure.nonRetryable).toBe(true);
        expect(failure).toBe(error.cause); // raised by the workflow itself, not by an activity
        expectReadable(failure.message, c.workflowMessage);
        expect(await historyOf(handle.workflowId)).toEqual(NO_ACTIVITY);
      }

      expect(sim.seen()).toEqual([]);
      expect(sim.stored()).toBe(0);
    });
  });

  describe('rejected by Replicate: one exchange, nothing stored, workflow and `run --json` carry the type', () => {
    it.each(replicateRejections)('$name', async (c) => {
      await onWorker(c.worker ?? 'default', async (taskQueue, simulator) => {
        // ---- from the workflow
        let sim = watch(simulator);
        const { handle, failure, ms } = await failedRun(c.request, taskQueue);
        expect(ms).toBeLessThan(LIMIT_MS);
        expect(failure.type).toBe(c.type);
        expect(failure.nonRetryable).toBe(true);
        expectReadable(failure.message, c.message);
        expect(failure.message).not.toContain(SECRET_TOKEN);
        const activity = failure.cause;
        expect(activity).toBeInstanceOf(ActivityFailure);
        expect((activity as ActivityFailure).activityType).toBe('createPrediction');
        expect((activity as ActivityFailure).retryState).toBe(RetryState.NON_RETRYABLE_FAILURE);
        expect(failure.details?.[0]).toMatchObject({ httpStatus: c.status, ...c.details });
        expect(sim.seen()).toEqual([`${c.route} ${c.status}`]);
        expect(sim.stored()).toBe(0);
        expect(await historyOf(handle.workflowId)).toEqual(ONE_CREATE_ONE_ATTEMPT);

        // ---- from the CLI: the same request through `run --json`
        sim = watch(simulator);
        const argv = run(
          '--model',
          c.request.model,
          '--input',
          JSON.stringify(c.request.input),
          ...(c.request.deployment ? ['--deployment'] : []),
          '--json',
        );
        const { code, out, err, ms: cliMs } = await cli(argv, taskQueue);
        expect(cliMs).toBeLessThan(LIMIT_MS);
        expect(code).toBe(EXIT.failed);
        expect(err).toEqual([]);
        expect(out).toHaveLength(1);
        const summary = JSON.parse(out[0]!) as RunSummary;
        expect(summary).toMatchObject({ status: 'error', predictionId: null, output: null });
        expect(summary.error?.type).toBe(c.type);
        expectReadable(summary.error?.message ?? '', c.message);
        expect(sim.seen()).toEqual([`${c.route} ${c.status}`]);
        expect(sim.stored()).toBe(0);
        expect(await historyOf(summary.workflowId)).toEqual(ONE_CREATE_ONE_ATTEMPT);
      });
    });
  });

  /** Gaps this file found in src/ (now fixed): ids, a client-supplied `resume`, odd polling shapes. */
  describe('edge cases found by this suite', () => {
    it('an empty --workflow-id is a usage error (exit 2), not an uncaught TypeError', async () => {
      const { code, err, connected } = await cli(runImagen('--workflow-id', ''));
      expect(code).toBe(EXIT.usage);
      expect(err[0]).toContain('--workflow-id');
      expect(connected).toBe(false);
    });

    it('a --workflow-id over 1000 characters is a usage error, not a bare ServiceError', async () => {
      const { code, err } = await cli(runImagen('--workflow-id', 'x'.repeat(2_000)));
      expect(code).toBe(EXIT.usage);
      expect(err[0]).toContain('--workflow-id');
    });

    it('a --workflow-id already running is a usage error naming it, not an uncaught error', async () => {
      // parked on a queue no worker polls: it stays running and touches nothing
      const parked = await bed.start(
        { model: IMAGEN, input: { prompt: 'x' } },
        { taskQueue: 'nobody-polls' },
      );
      try {
        const { code, err } = await cli(runImagen('--workflow-id', parked.workflowId));
        expect(code).toBe(EXIT.usage);
        expect(err[0]).toContain(parked.workflowId);
      } finally {
        await parked.terminate('bad-input test: cleanup');
      }
    });

    it('a malformed `resume` fails typed within 3 s instead of failing workflow tasks until the timeout', async () => {
      const sim = watch(bed.sim);
      const handle = await bed.start({
        model: IMAGEN,
        input: { prompt: 'x' },
        resume: 'garbage',
      } as unknown as PredictionRequest);
      try {
        const failure = await Promise.race([
          failureOf(handle).then((f) => f.failure),
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error(`no failure within ${LIMIT_MS} ms`)), LIMIT_MS).unref(),
          ),
        ]);
        expect(failure.type).toBe(PredictionFailureType.InvalidRequest);
        expect(failure.message).toContain('resume');
      } finally {
        await handle.terminate('bad-input test: cleanup').catch(() => undefined);
        expect(sim.seen()).toEqual([]);
      }
    });

    it('polling given as an array is refused', async () => {
      // an unknown model keeps this fast: were the request accepted, Replicate's 404 would end it
      const { failure } = await failedRun(
        { model: 'nobody/no-such-model', input: {}, polling: [] },
        bed.config.taskQueue,
      );
      expect(failure.type).toBe(PredictionFailureType.InvalidRequest);
    });

    it('polling.maxIntervalMs below the default initialIntervalMs is refused', async () => {
      const { failure } = await failedRun(
        { model: 'nobody/no-such-model', input: {}, polling: { maxIntervalMs: 200 } },
        bed.config.taskQueue,
      );
      expect(failure.type).toBe(PredictionFailureType.InvalidRequest);
      expect(failure.message).toContain('polling.maxIntervalMs');
    });
  });
});
