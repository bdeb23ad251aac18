/**
 * The prediction timeline and views. A run's public state is never stored as mutable "status" fields: it is
 * computed from the script captured at creation, the creation time, the clock, and the two things that can
 * interrupt a run (a user cancel and a `Cancel-After` deadline). Everything here is a pure function, so the
 * lifecycle can be unit-tested and an injected clock moves predictions forward deterministically.
 *
 * Trainings (§1 trainings row) are runs of the same kind: same record, same timeline, same views; they differ
 * in `kind`, their URLs (`/v1/trainings/{id}`), a `destination` key and a fixed `{version, weights}` output.
 * Mirrors docs/replicate-api.md §3 (sparse shapes), §4 (status values), §8 (retention).
 */
import type { InputReads } from './inputs';
import { missingInputError } from './inputs';
import type { Prediction, PredictionStatus, ResolvedScript, RunKind } from './models';

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
  /** what the model read when it started (inputs.ts), settled once it has started; a missing file fails it */
  reads?: InputReads;
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
  // a file input that did not resolve fails the prediction the moment it starts (and reads it)
  const unreadable = rec.reads?.missing !== undefined;
  const naturalEnd = unreadable ? startAt : s.outcome === 'never' ? Infinity : startAt + s.durationMs;
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
  if (unreadable) return { status: 'failed', ...base, logLines: 0 };
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

/**
 * When the run starts processing, and so reads its inputs; undefined when it never does (outcome 'aborted', or a
 * cancel or deadline before the start). Independent of what it reads.
 */
export function startTime(rec: PredictionRecord): number | undefined {
  const startAt = rec.createdAt + rec.script.startDelayMs;
  if (rec.script.outcome === 'aborted') return undefined;
  if ((rec.canceledAt ?? Infinity) < startAt || (rec.deadlineAt ?? Infinity) < startAt) return undefined;
  return startAt;
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
    error:
      st.status !== 'failed'
        ? null
        : rec.reads?.missing
          ? missingInputError(rec.reads.missing)
          : rec.script.error,
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

/**
 * Lean modes (`SimulatorOptions.lean`): the echoed fields the OpenAPI description does not promise in every answer
 * (`deadline` is missing from its list example, `webhook` and `webhook_events_filter` are not in its schema at all)
 * left out of list results ('list'), or of list, get, cancel and create answers ('list-and-get'). Spend safety must
 * hold without them (test/adoption.test.ts, test/integration/reconcile.test.ts, late-create, the chaos suite).
 */
export type LeanMode = 'list' | 'list-and-get';
export const LEAN_MODES: readonly LeanMode[] = ['list', 'list-and-get'];
const ECHOED = ['deadline', 'webhook', 'webhook_events_filter'] as const;

export function leanView(view: Prediction, lean: LeanMode | undefined, where: 'list' | 'get'): Prediction {
  if (lean === undefined || (where === 'get' && lean === 'list')) return view;
  const copy: Prediction = { ...view };
  for (const key of ECHOED) delete copy[key];
  return copy;
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

/** Whether output file `name` of this run can be downloaded at `at`: it succeeded, its data is not yet removed (§8). */
export function outputFileAt(
  rec: PredictionRecord,
  name: string,
  ctx: ViewContext & { at: number },
): boolean {
  const st = timeline(rec, ctx.at);
  return (
    st.status === 'succeeded' &&
    ctx.at < st.completedAt! + ctx.outputTtlMs &&
    outputFileNames(rec, ctx.origin).has(name)
  );
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
