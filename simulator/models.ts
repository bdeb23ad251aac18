/**
 * The model catalogue: model scripts (how a simulated model behaves), the built-in models and deployments,
 * the public `Prediction` shape (§3, §4) and the output a run gets at creation. The timeline and the views
 * computed from a stored run are in timeline.ts.
 */
import { createHash } from 'node:crypto';
import { STATUS_CODES } from 'node:http';

export interface ModelScript {
  /** time in `starting` before `processing` (default 300 ms) */
  startDelayMs?: number;
  /** time in `processing` (default 1000 ms) */
  durationMs?: number;
  /**
   * each run's time in `processing` varies by up to this share of durationMs either way, uniformly (0.3: 70–130 %;
   * default 0, every run the same). Drawn from the simulator's seeded PRNG at the create.
   */
  durationJitter?: number;
  /** this share of runs boot cold: `delayMs` more in `starting` (default none) */
  coldStart?: { rate: number; delayMs: number };
  /** terminal outcome when the time is up (default 'succeeded'). 'never' = stays processing forever. */
  outcome?: 'succeeded' | 'failed' | 'canceled' | 'aborted' | 'never';
  /** output on success; default: one file URL served by the simulator (`${origin}/files/<predictionId>/out-0.png`).
   *  The string '$files:N' means N such file URLs (an array); '$input' echoes the input; '$caption' describes
   *  `input.image` ("a picture of <its prompt>" for the simulator's own pictures). Any other JSON value is returned as is. */
  output?: unknown;
  /** error message for outcome 'failed' (default 'CUDA out of memory') */
  error?: string;
  /** log lines emitted progressively while processing (spread over durationMs); defaults to a few realistic lines */
  logs?: string[];
  /** required input keys: missing -> 422 `Input validation failed` with invalid_fields (type 'required') */
  requiredInputs?: string[];
  /** version id (64 lowercase hex) for this model; default derived deterministically from the name (sha256) */
  version?: string;
  /** official-model style: predictions created through the model route report `version: "hidden"` (§3). Default false. */
  hiddenVersion?: boolean;
  /** time in `processing` for trainings of this model (default: durationMs). Everything else comes from this script. */
  trainingDurationMs?: number;
  /** answer requests for this model with an error instead of running it (see ScriptedRejection) */
  reject?: ScriptedRejection;
  /**
   * what its output files show (behaviour.ts): 'prompt' = a picture of `input.prompt`; 'upscale' = `input.image`
   * redrawn `scale` times larger. Default: a picture of nothing in particular.
   */
  picture?: 'prompt' | 'upscale';
}

/**
 * A scripted error answer (problem+json `{title, detail, status}`, §5) for every request about one model:
 * - `on: 'create'` (default): the create routes (predictions, model, deployment, trainings) answer it and
 *   store nothing;
 * - `on: 'get'`: creates succeed, but GET and cancel of this model's predictions/trainings answer it (a
 *   permission or billing problem that appears mid-run);
 * - `on: 'all'`: both.
 * title/detail default per status (402 `Billing required`, 403 `Forbidden`, 413 `Payload too large`,
 * 400 `Bad request`, 404 the observed no-title body; others the HTTP reason phrase).
 */
export interface ScriptedRejection {
  status: number;
  title?: string;
  detail?: string;
  on?: 'create' | 'get' | 'all';
}

/** A prediction, or a training (POST /models/{o}/{n}/versions/{id}/trainings). */
export type RunKind = 'prediction' | 'training';

export type PredictionStatus = 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled' | 'aborted';

export const TERMINAL_STATUSES: readonly PredictionStatus[] = ['succeeded', 'failed', 'canceled', 'aborted'];

export function isTerminal(status: PredictionStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** The JSON object the API returns for a prediction (schemas_prediction_response), as sparse as real traffic. */
export interface Prediction {
  id: string;
  model: string;
  version: string;
  input: Record<string, unknown>;
  logs?: string;
  /** absent until the prediction is terminal; `null` unless it succeeded (and after data removal) */
  output?: unknown;
  /** absent on the create response and while running */
  data_removed?: boolean;
  error: string | null;
  /** absent on the create response */
  source?: 'api' | 'web';
  status: PredictionStatus;
  created_at: string;
  /** present once the prediction reached `processing` */
  started_at?: string;
  /** present once terminal */
  completed_at?: string;
  /** present once terminal; no `predict_time` for predictions that never ran */
  metrics?: { predict_time?: number; total_time?: number };
  /** absolute time of the `Cancel-After` deadline, when one was sent */
  deadline?: string;
  /** deployment name, for predictions created through the deployment route */
  deployment?: string;
  /** echoed from the create request */
  webhook?: string;
  webhook_events_filter?: string[];
  /** trainings only: the `owner/name` model the trained version is pushed to. Its presence marks a training. */
  destination?: string;
  urls: { get: string; cancel: string; web: string; stream?: string };
}

/** A training as the API returns it: the prediction shape plus `destination`; on success `output` is TrainingOutput. */
export type Training = Prediction & { destination: string };

/** `output` of a succeeded training: the new version (`<destination>:<64-hex>`) and a weights file URL. */
export interface TrainingOutput {
  version: string;
  weights: string;
}

/** True for training views (they carry `destination`; their urls point at /v1/trainings). */
export function isTraining(p: Prediction): p is Training {
  return typeof p.destination === 'string';
}

/** A script with every default filled in. */
export interface ResolvedScript {
  startDelayMs: number;
  durationMs: number;
  outcome: 'succeeded' | 'failed' | 'canceled' | 'aborted' | 'never';
  output: unknown;
  error: string;
  logs: string[];
  requiredInputs: string[];
  version: string;
  hiddenVersion: boolean;
  picture?: 'prompt' | 'upscale';
  durationJitter?: number;
  coldStart?: { rate: number; delayMs: number };
}

export const DEFAULT_LOGS: readonly string[] = [
  'Using seed: 41231',
  'Loading pipeline components...',
  '  0%|          | 0/4 [00:00<?, ?it/s]',
  ' 50%|█████     | 2/4 [00:00<00:00,  8.12it/s]',
  '100%|██████████| 4/4 [00:00<00:00,  8.41it/s]',
];

/** Models always present (options.models and setModel() merge over them). */
export const BUILTIN_MODELS: Readonly<Record<string, ModelScript>> = {
  'google/imagen-4-ultra': {
    requiredInputs: ['prompt'],
    startDelayMs: 300,
    durationMs: 1500,
    picture: 'prompt',
  },
  'stability-ai/sdxl': { output: '$files:2', picture: 'prompt' },
  'nightmareai/real-esrgan': { requiredInputs: ['image'], picture: 'upscale' },
  'salesforce/blip': { requiredInputs: ['image'], durationMs: 600, output: '$caption' },
  'sim/fail': {
    outcome: 'failed',
    error: 'CUDA out of memory',
    logs: [
      'Using seed: 1234',
      'Loading pipeline components...',
      'Traceback (most recent call last):',
      '  File "/src/predict.py", line 88, in predict',
      'torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB',
    ],
  },
  'sim/never': { outcome: 'never' },
  'sim/abort': { outcome: 'aborted' },
  'sim/cancel': { outcome: 'canceled' },
  'sim/echo': { output: '$input', durationMs: 200 },
  'sim/billing': { reject: { status: 402 } },
  'sim/forbidden': { reject: { status: 403 } },
};

/** Default `{title, detail}` of a scripted rejection (§5 observed bodies where known). */
export function rejectionBody(r: ScriptedRejection): { title?: string; detail: string; status: number } {
  const defaults: Record<number, { title?: string; detail: string }> = {
    400: { title: 'Bad request', detail: 'The request could not be understood' },
    402: { title: 'Billing required', detail: 'You need to set up billing to run this model' },
    403: { title: 'Forbidden', detail: 'You do not have permission to perform this action.' },
    404: { detail: 'The requested resource could not be found.' },
    413: { title: 'Payload too large', detail: 'Request body too large' },
  };
  const reason = STATUS_CODES[r.status] ?? 'Error';
  const d = defaults[r.status] ?? { title: reason, detail: reason };
  const title = r.title ?? d.title;
  return { ...(title === undefined ? {} : { title }), detail: r.detail ?? d.detail, status: r.status };
}

/** Deployments always present: deployment name -> model ref. */
export const BUILTIN_DEPLOYMENTS: Readonly<Record<string, string>> = {
  'acme/imagen-prod': 'google/imagen-4-ultra',
};

export function defaultVersionFor(ref: string): string {
  return createHash('sha256').update(ref).digest('hex');
}

/** Fills in defaults; for a training, `trainingDurationMs` (when set) replaces `durationMs`. */
export function resolveScript(
  ref: string,
  script: ModelScript,
  kind: RunKind = 'prediction',
): ResolvedScript {
  const duration = kind === 'training' ? (script.trainingDurationMs ?? script.durationMs) : script.durationMs;
  return {
    startDelayMs: script.startDelayMs ?? 300,
    durationMs: duration ?? 1000,
    outcome: script.outcome ?? 'succeeded',
    output: script.output,
    error: script.error ?? 'CUDA out of memory',
    logs: script.logs ?? [...DEFAULT_LOGS],
    requiredInputs: script.requiredInputs ?? [],
    version: script.version ?? defaultVersionFor(ref),
    hiddenVersion: script.hiddenVersion ?? false,
    ...(script.picture === undefined ? {} : { picture: script.picture }),
    ...(script.durationJitter ? { durationJitter: script.durationJitter } : {}),
    ...(script.coldStart ? { coldStart: script.coldStart } : {}),
  };
}

/**
 * One run's own script: its duration drawn within `durationJitter`, a cold boot added with `coldStart.rate`. Draws
 * from `random` only for a script that varies, so seeded runs of other scripts see the same sequence as before.
 */
export function varyScript(script: ResolvedScript, random: () => number): ResolvedScript {
  const { durationJitter, coldStart, ...fixed } = script;
  let { durationMs, startDelayMs } = fixed;
  if (durationJitter)
    durationMs = Math.max(0, Math.round(durationMs * (1 + durationJitter * (2 * random() - 1))));
  if (coldStart && random() < coldStart.rate) startDelayMs += coldStart.delayMs;
  return { ...fixed, durationMs, startDelayMs };
}

/** URL of the n-th output file of a prediction, served by GET /files/{id}/{name}. */
export function fileUrl(origin: string, predictionId: string, n: number): string {
  return `${origin}/files/${predictionId}/out-${n}.png`;
}

/**
 * Output value fixed at creation: the default is one simulator-served PNG URL; '$files:N' means N of
 * them; '$input' (used by sim/echo) echoes the input object; '$caption' is written once the model has read
 * its input (behaviour.ts); anything else is returned as is.
 */
export function materialiseOutput(
  script: ResolvedScript,
  origin: string,
  id: string,
  input: Record<string, unknown>,
): unknown {
  const out = script.output;
  if (out === undefined) return fileUrl(origin, id, 0);
  if (out === '$input') return input;
  if (out === '$caption') return null; // written when the model has read its image (behaviour.ts)
  if (typeof out === 'string') {
    const m = /^\$files:(\d+)$/.exec(out);
    if (m) return Array.from({ length: Number(m[1]) }, (_, i) => fileUrl(origin, id, i));
  }
  return out;
}

/** Output of a succeeded training: a new version of `destination` (deterministic per training) and its weights. */
export function trainingOutput(origin: string, id: string, destination: string): TrainingOutput {
  const version = createHash('sha256').update(`${destination}:${id}`).digest('hex');
  return { version: `${destination}:${version}`, weights: `${origin}/files/${id}/weights.tar` };
}
