/**
 * Model scripts and the prediction timeline.
 *
 * A prediction's public state is never stored as mutable "status" fields: it is computed from the
 * script captured at creation, the creation time, the clock, and the two things that can interrupt a
 * run (a user cancel and a `Cancel-After` deadline). Everything here is a pure function, so the
 * lifecycle can be unit-tested and an injected clock moves predictions forward deterministically.
 *
 * Trainings (§1 trainings row) are runs of the same kind: same record, same timeline, same views; they
 * differ in `kind`, their URLs (`/v1/trainings/{id}`), a `destination` key and a fixed `{version, weights}`
 * output.
 *
 * Mirrors docs/replicate-api.md §3 (sparse shapes), §4 (status values), §8 (retention).
 */
import { createHash } from 'node:crypto';
import { STATUS_CODES } from 'node:http';

export interface ModelScript {
  /** time in `starting` before `processing` (default 300 ms) */
  startDelayMs?: number;
  /** time in `processing` (default 1000 ms) */
  durationMs?: number;
  /** terminal outcome when the time is up (default 'succeeded'). 'never' = stays processing forever. */
  outcome?: 'succeeded' | 'failed' | 'canceled' | 'aborted' | 'never';
  /** output on success; default: one file URL served by the simulator (`${origin}/files/<predictionId>/out-0.png`).
   *  The string '$files:N' means N such file URLs (an array). Any other JSON value is returned as is. */
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
  'google/imagen-4-ultra': { requiredInputs: ['prompt'], startDelayMs: 300, durationMs: 1500 },
  'stability-ai/sdxl': { output: '$files:2' },
  'nightmareai/real-esrgan': { requiredInputs: ['image'] },
  'salesforce/blip': {
    requiredInputs: ['image'],
    durationMs: 600,
    output: 'a lighthouse on a rocky cliff at dusk, oil painting',
  },
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
  };
}

/** URL of the n-th output file of a prediction, served by GET /files/{id}/{name}. */
export function fileUrl(origin: string, predictionId: string, n: number): string {
  return `${origin}/files/${predictionId}/out-${n}.png`;
}

/**
 * Output value fixed at creation: the default is one simulator-served PNG URL; '$files:N' means N of
 * them; '$input' (used by sim/echo) echoes the input object; anything else is returned as is.
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

/** Everything the timeline needs about one stored prediction (or training). Times are epoch ms (fractional allowed). */
export interface PredictionRecord {
  id: string;
  /** 'training' for runs created by POST .../trainings (default 'prediction') */
  kind?: RunKind;
  seq: number;
  model: string;
  /** value of the `version` field */
  version: string;
  deployment?: string;
  input: Record<string, unknown>;
  webhook?: string;
  webhookEventsFilter?: string[];
  /** trainings: `owner/name` the trained version goes to */
  destination?: string;
  stream: boolean;
  script: ResolvedScript;
  output: unknown;
  createdAt: number;
  /** sub-millisecond digits (0..999 µs) shared by all of this prediction's timestamps, for realistic precision */
  micros: number;
  deadlineAt?: number;
  canceledAt?: number;
}

export interface TimelineState {
  status: PredictionStatus;
  startedAt?: number;
  completedAt?: number;
  /** number of script log lines visible */
  logLines: number;
}

/**
 * Where the prediction stands at `now`.
 * created -> starting (startDelayMs) -> processing (durationMs) -> outcome, unless interrupted first by
 * a user cancel (-> canceled) or the deadline (-> aborted while starting, canceled while processing).
 * Outcome 'aborted' never starts running: it stays `starting` for the whole script, then ends `aborted`.
 */
export function timeline(rec: PredictionRecord, now: number): TimelineState {
  const s = rec.script;
  const startAt = rec.createdAt + s.startDelayMs;
  const naturalEnd = s.outcome === 'never' ? Infinity : startAt + s.durationMs;
  const runs = s.outcome !== 'aborted';

  // The first interruption that happened before the natural end.
  let interruptAt = Infinity;
  let interruptBy: 'cancel' | 'deadline' | undefined;
  if (rec.canceledAt !== undefined && rec.canceledAt < naturalEnd) {
    interruptAt = rec.canceledAt;
    interruptBy = 'cancel';
  }
  if (rec.deadlineAt !== undefined && rec.deadlineAt < naturalEnd && rec.deadlineAt < interruptAt) {
    interruptAt = rec.deadlineAt;
    interruptBy = 'deadline';
  }
  const endAt = Math.min(naturalEnd, interruptAt);
  const t = Math.min(now, endAt);
  const started = runs && t >= startAt;
  const logLines = started ? visibleLogLines(s, t - startAt) : 0;

  if (now < endAt || endAt === Infinity) {
    return started
      ? { status: 'processing', startedAt: startAt, logLines }
      : { status: 'starting', logLines: 0 };
  }
  const base = { completedAt: endAt, ...(started ? { startedAt: startAt } : {}) };
  if (interruptBy === 'cancel') return { status: 'canceled', ...base, logLines };
  if (interruptBy === 'deadline') return { status: started ? 'canceled' : 'aborted', ...base, logLines };
  switch (s.outcome) {
    case 'aborted':
      return { status: 'aborted', ...base, logLines: 0 };
    case 'failed':
      return { status: 'failed', ...base, logLines: s.logs.length };
    case 'canceled':
      return { status: 'canceled', ...base, logLines };
    default:
      return { status: 'succeeded', ...base, logLines: s.logs.length };
  }
}

/** Log line i (0-based) becomes visible at durationMs * i / n after processing starts. */
export function visibleLogLines(s: ResolvedScript, elapsedMs: number): number {
  const n = s.logs.length;
  if (n === 0) return 0;
  if (s.durationMs <= 0) return n;
  return Math.min(n, Math.floor((n * elapsedMs) / s.durationMs) + 1);
}

/** Future moments at which the public view changes (for timers that emit change events). */
export function transitionTimes(rec: PredictionRecord): number[] {
  const s = rec.script;
  const startAt = rec.createdAt + s.startDelayMs;
  const times = [startAt];
  for (let i = 1; i < s.logs.length; i++) times.push(startAt + (s.durationMs * i) / s.logs.length);
  if (s.outcome !== 'never') times.push(startAt + s.durationMs);
  if (rec.deadlineAt !== undefined) times.push(rec.deadlineAt);
  const end = timeline(rec, Infinity).completedAt;
  if (end !== undefined) times.push(end);
  return times.filter((t) => Number.isFinite(t));
}

/** ISO 8601 with microsecond precision, e.g. '2026-11-25T18:00:01.123456Z'. */
export function isoMicros(ms: number, micros: number): string {
  const whole = Math.floor(ms);
  const extra = Math.floor((ms - whole) * 1000) + micros;
  const iso = new Date(whole + Math.floor(extra / 1000)).toISOString();
  return `${iso.slice(0, -1)}${String(extra % 1000).padStart(3, '0')}Z`;
}

/** Parses an ISO 8601 date-time into epoch microseconds (keeps up to 6 fractional digits). NaN if invalid. */
export function parseIsoMicros(value: string): number {
  const m = /^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$/i.exec(
    value.trim(),
  );
  if (!m) return NaN;
  const whole = Date.parse(`${m[1]!.replace(' ', 'T')}${m[3] ?? 'Z'}`);
  if (Number.isNaN(whole)) return NaN;
  const frac = Number(((m[2] ?? '') + '000000').slice(0, 6));
  return whole * 1000 + frac;
}

export function createdAtMicros(rec: PredictionRecord): number {
  return Math.floor(rec.createdAt) * 1000 + Math.floor((rec.createdAt % 1) * 1000) + rec.micros;
}

const round6 = (x: number): number => Math.round(x * 1e6) / 1e6;

export interface ViewContext {
  /** e.g. 'http://127.0.0.1:8787' */
  origin: string;
  now: number;
  outputTtlMs: number;
}

/** The public JSON view of a prediction, as GET /v1/predictions/{id} would return it at `now`. */
export function predictionView(rec: PredictionRecord, ctx: ViewContext): Prediction {
  const st = timeline(rec, ctx.now);
  const ts = (ms: number) => isoMicros(ms, rec.micros);
  const removed = st.completedAt !== undefined && ctx.now >= st.completedAt + ctx.outputTtlMs;
  const logs = removed
    ? ''
    : rec.script.logs
        .slice(0, st.logLines)
        .map((l) => `${l}\n`)
        .join('');
  const view: Prediction = {
    id: rec.id,
    model: rec.model,
    version: rec.version,
    input: removed ? {} : rec.input,
    logs,
    error: st.status === 'failed' ? rec.script.error : null,
    source: 'api',
    status: st.status,
    created_at: ts(rec.createdAt),
    urls: predictionUrls(rec, ctx.origin),
  };
  if (st.startedAt !== undefined) view.started_at = ts(st.startedAt);
  if (st.completedAt !== undefined) {
    // Terminal: `output` and `data_removed` appear (§3), `output` is null unless succeeded and kept (§8).
    view.output = st.status === 'succeeded' && !removed ? rec.output : null;
    view.data_removed = removed;
    view.completed_at = ts(st.completedAt);
    const metrics: { predict_time?: number; total_time?: number } = {};
    // Billing basis: only time spent running. Never-started predictions (aborted) carry no predict_time.
    if (st.startedAt !== undefined) metrics.predict_time = round6((st.completedAt - st.startedAt) / 1000);
    metrics.total_time = round6((st.completedAt - rec.createdAt) / 1000);
    view.metrics = metrics;
  }
  addEchoedFields(view, rec);
  return view;
}

/** The sparse 201 body of an async create (§3): no output, started_at, metrics, data_removed, source. */
export function createView(rec: PredictionRecord, origin: string): Prediction {
  const view: Prediction = {
    id: rec.id,
    model: rec.model,
    version: rec.version,
    input: rec.input,
    logs: '',
    error: null,
    status: 'starting',
    created_at: isoMicros(rec.createdAt, rec.micros),
    urls: predictionUrls(rec, origin),
  };
  addEchoedFields(view, rec);
  return view;
}

function addEchoedFields(view: Prediction, rec: PredictionRecord): void {
  if (rec.deadlineAt !== undefined) view.deadline = isoMicros(rec.deadlineAt, rec.micros);
  if (rec.deployment !== undefined) view.deployment = rec.deployment;
  if (rec.webhook !== undefined) view.webhook = rec.webhook;
  if (rec.webhookEventsFilter !== undefined) view.webhook_events_filter = rec.webhookEventsFilter;
  if (rec.destination !== undefined) view.destination = rec.destination;
}

function predictionUrls(rec: PredictionRecord, origin: string): Prediction['urls'] {
  const collection = rec.kind === 'training' ? 'trainings' : 'predictions';
  const urls: Prediction['urls'] = {
    get: `${origin}/v1/${collection}/${rec.id}`,
    cancel: `${origin}/v1/${collection}/${rec.id}/cancel`,
    web: `https://replicate.com/p/${rec.id}`,
  };
  if (rec.stream) urls.stream = `${origin}/stream/${rec.id}`;
  return urls;
}

/** File names (e.g. 'out-0.png') this prediction's output links to on this simulator. */
export function outputFileNames(rec: PredictionRecord, origin: string): Set<string> {
  const prefix = `${origin}/files/${rec.id}/`;
  const names = new Set<string>();
  const visit = (v: unknown): void => {
    if (typeof v === 'string') {
      if (v.startsWith(prefix)) names.add(v.slice(prefix.length));
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') Object.values(v).forEach(visit);
  };
  visit(rec.output);
  return names;
}
