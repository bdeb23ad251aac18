/**
 * Per-model concurrency, the pure part: which key a request counts against, the `REPLICATE_MODEL_CONCURRENCY`
 * syntax, and the limiter's bookkeeping (holders, a queue in start order, which waiter hears what). The limiter
 * workflow (src/workflows/slots.ts) and the job runs only wire this to Temporal; docs/architecture.md has the design.
 */
import { isCreateTarget, parseModelRef } from './model-ref';

/** The workflow id of the limiter for `key` (one per model or deployment, shared by the whole fleet). */
export function slotsWorkflowId(key: string): string {
  return `replicate-slots:${key}`;
}

/**
 * The key a prediction counts against as written: `owner/name` for a model (whatever its version),
 * `deployments/owner/name` for a deployment, the version id for a bare version (the worker maps it to its model
 * when it limits that model: src/activities/slots.ts); null when `model` is not a model reference.
 */
export function slotKey(model: string, deployment = false): string | null {
  const target = parseModelRef(model, deployment);
  if (!isCreateTarget(target)) return null;
  if (target.route === 'deployment') return `deployments/${target.owner}/${target.name}`;
  if (target.route === 'model') return `${target.owner}/${target.name}`;
  return target.model ?? target.version;
}

const ENTRY = /^(deployments\/)?([a-zA-Z0-9][a-zA-Z0-9._-]*\/[a-zA-Z0-9][a-zA-Z0-9._-]*)=(\d+)$/;
const VERSION_ENTRY = /^[a-f0-9]{64}\s*=/;

/**
 * Parse `REPLICATE_MODEL_CONCURRENCY` (`owner/name=N,deployments/owner/name=N,...`, N ≥ 1) into key -> limit.
 * Returns the problem (naming the entry and the fix) instead of throwing, so config.ts can wrap it.
 */
export function parseModelConcurrency(raw: string): Record<string, number> | { error: string } {
  const limits: Record<string, number> = {};
  for (const part of raw.split(',')) {
    const entry = part.trim();
    if (entry === '') continue;
    if (VERSION_ENTRY.test(entry)) {
      return {
        error: `"${entry}" limits a version id; limit its model instead (owner/name=N): a model's limit holds for every version, addressed by owner/name, owner/name:version or the bare version id; e.g. REPLICATE_MODEL_CONCURRENCY="acme/model=2"`,
      };
    }
    const m = ENTRY.exec(entry.replace(/\s*=\s*/, '='));
    const limit = m ? Number(m[3]) : NaN;
    if (!m || !(Number.isSafeInteger(limit) && limit >= 1)) {
      return {
        error: `"${entry}" is not owner/name=N (or deployments/owner/name=N) with N a whole number ≥ 1; e.g. REPLICATE_MODEL_CONCURRENCY="google/imagen-4-ultra=4,deployments/acme/sdxl=2"`,
      };
    }
    const key = `${m[1] ?? ''}${m[2]}`;
    if (key in limits) return { error: `"${key}" is listed twice; keep one entry per model` };
    limits[key] = limit;
  }
  return limits;
}

/** Failure types of the limiter's updates (their validators and handlers reject with these). */
export const SlotFailureType = {
  /** malformed or impossible request: a bug or a forgery; never retried */
  InvalidRequest: 'InvalidSlotRequest',
  /** the limiter's state is at its size bound: ask again later */
  QueueFull: 'SlotQueueFull',
  /** a release of something the run neither holds nor waits for (already released, or forged) */
  NotHeld: 'SlotNotHeld',
  /** another run of the same workflow id, still running, holds or waits (a forged run id) */
  RunMismatch: 'SlotRunMismatch',
} as const;

/**
 * One run as the limiter knows it: its workflow id and its chain's first run id (`firstExecutionRunId`: kept by
 * continue-as-new, new when the same workflow id is started again).
 */
export interface SlotRef {
  workflowId: string;
  runId: string;
}

/** What a run asks the limiter for (the `slotAcquire` update, sent by the `requestSlot` activity). */
export interface SlotRequest extends SlotRef {
  /** when the run (the first of its continue-as-new chain) started, ms: the queue's order */
  startedAt: number;
  /** the operator's limit (REPLICATE_MODEL_CONCURRENCY) as the asking worker knows it; null: that worker sets none */
  limit: number | null;
  /**
   * the request's own `concurrencyLimit`: at most this many of the runs of this model that asked for the same
   * number hold slots at once. It only ever delays this run; it changes no one else's admission.
   */
  ownLimit?: number;
}

/** The limiter's answer to an acquire: position 0 = the slot is yours; else your place in the queue. */
export interface SlotAnswer {
  position: number;
  /** the limit this run waits under (the operator's, or its own when tighter) */
  limit: number;
  /** the limiter's count of what it has told: a run shows the newest of answers and signals, whatever their order */
  seq: number;
}

/** What the limiter tells a waiting run (the `slotUpdate` signal): a hint only; position 0 = ask again now. */
export interface SlotUpdate {
  key: string;
  position: number;
  limit: number;
  seq: number;
}

export interface SlotHolder extends SlotRef {
  /** when the slot was granted, ms */
  since: number;
  ownLimit?: number;
  /** the run was told (by the acquire's answer or a signal) that the slot is its */
  told: boolean;
}

export interface SlotWaiter extends SlotRequest {
  /** the last position this waiter was told (0 = never told) */
  told: number;
}

/** The limiter's whole state; carried across continue-as-new. */
export interface SlotsState {
  key: string;
  /** the operator's limit (the latest a worker sent); null: no worker set one, only requests' own limits apply */
  limit: number | null;
  holders: SlotHolder[];
  queue: SlotWaiter[];
  /** how many answers and signals the limiter has given (SlotAnswer.seq) */
  seq?: number;
}

/** Waiters are told their exact position up to here; further back, only when it has at least halved. */
export const EXACT_POSITIONS = 10;

/** The largest request limit (as `concurrencyLimit` is validated). */
export const MAX_OWN_LIMIT = 10_000;

/**
 * The limiter's state stays under this many bytes of JSON: it travels whole in continue-as-new (Temporal caps a
 * payload at 2 MB). A request that would grow it past this is refused (`SlotQueueFull`) and asked again later.
 */
export const MAX_SLOTS_STATE_BYTES = 1_000_000;

const MAX_ID_BYTES = 1_000;

export function sameRun(a: SlotRef, b: SlotRef): boolean {
  return a.workflowId === b.workflowId && a.runId === b.runId;
}

function entries(state: SlotsState): SlotRef[] {
  return [...state.holders, ...state.queue];
}

/** Entries of the same workflow id from another run (a run terminated and its id started again). */
export function otherRuns(state: SlotsState, ref: SlotRef): SlotRef[] {
  return entries(state)
    .filter((e) => e.workflowId === ref.workflowId && e.runId !== ref.runId)
    .map(({ workflowId, runId }) => ({ workflowId, runId }));
}

function isWholeNumber(x: unknown, min: number, max: number): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= min && x <= max;
}

function isId(x: unknown): x is string {
  return typeof x === 'string' && x !== '' && new TextEncoder().encode(x).length <= MAX_ID_BYTES;
}

/** Why the limiter refuses `request` (the acquire's validator), with its failure type; null when it is fine. */
export function acquireProblem(
  state: SlotsState,
  request: unknown,
): { type: (typeof SlotFailureType)[keyof typeof SlotFailureType]; message: string } | null {
  const invalid = (message: string) => ({ type: SlotFailureType.InvalidRequest, message });
  if (typeof request !== 'object' || request === null) return invalid('the request must be an object');
  const r = request as Partial<SlotRequest>;
  if (!isId(r.workflowId)) return invalid('workflowId: must be a workflow id');
  if (!isId(r.runId)) return invalid('runId: must be the run id of the chain (firstExecutionRunId)');
  if (typeof r.startedAt !== 'number' || !Number.isFinite(r.startedAt))
    return invalid('startedAt: must be ms');
  if (r.limit !== null && !isWholeNumber(r.limit, 1, Number.MAX_SAFE_INTEGER)) {
    return invalid('limit: must be the operator limit (a whole number ≥ 1) or null');
  }
  if (r.ownLimit !== undefined && !isWholeNumber(r.ownLimit, 1, MAX_OWN_LIMIT)) {
    return invalid(`ownLimit: must be a whole number from 1 to ${MAX_OWN_LIMIT}, or unset`);
  }
  if (r.limit === null && r.ownLimit === undefined) return invalid('neither an operator limit nor its own');
  const known = entries(state).some((e) => sameRun(e, r as SlotRef));
  const bytes = JSON.stringify(state).length + JSON.stringify(request).length + 64;
  if (!known && bytes > MAX_SLOTS_STATE_BYTES) {
    return {
      type: SlotFailureType.QueueFull,
      message: `the limiter of ${state.key} is full (${state.holders.length} holders, ${state.queue.length} waiting); ask again later`,
    };
  }
  return null;
}

/** Why the limiter refuses to release `ref` (the release's validator); null when the run holds or waits. */
export function releaseProblem(state: SlotsState, ref: unknown): string | null {
  const r = ref as Partial<SlotRef> | null;
  if (typeof r !== 'object' || r === null || !isId(r.workflowId) || !isId(r.runId)) {
    return 'a release names the workflowId and runId of the run that holds or waits';
  }
  if (!entries(state).some((e) => sameRun(e, r as SlotRef))) {
    return `${r.workflowId} (run ${r.runId}) neither holds a slot of ${state.key} nor waits for one`;
  }
  return null;
}

/**
 * Record a request: queued in start order (ties by workflow id); a repeat from the same run changes nothing. A
 * worker's request sets the operator's limit; a request's own limit never does.
 */
export function enqueue(state: SlotsState, request: SlotRequest): void {
  if (request.limit !== null) state.limit = request.limit;
  if (entries(state).some((e) => sameRun(e, request))) return;
  const { workflowId, runId, startedAt, limit } = request;
  state.queue.push({
    workflowId,
    runId,
    startedAt,
    limit,
    ...(request.ownLimit !== undefined ? { ownLimit: request.ownLimit } : {}),
    told: 0,
  });
  state.queue.sort((a, b) => a.startedAt - b.startedAt || (a.workflowId < b.workflowId ? -1 : 1));
}

/** Forget a run as a holder or a waiter; true when it held a slot. Releasing what one never had is a no-op. */
export function leave(state: SlotsState, ref: SlotRef): boolean {
  const held = state.holders.length;
  state.holders = state.holders.filter((h) => !sameRun(h, ref));
  state.queue = state.queue.filter((w) => !sameRun(w, ref));
  return state.holders.length < held;
}

/** The limit a run with `ownLimit` waits under: the operator's, or its own when tighter. */
export function limitFor(state: SlotsState, ownLimit: number | undefined): number {
  return Math.min(state.limit ?? Infinity, ownLimit ?? Infinity);
}

/**
 * Grant slots: in queue order, while the operator's limit has room, to every waiter whose own group (the holders
 * that asked for the same own limit) has room too. A waiter held back by its own limit keeps its place and blocks
 * no one behind it.
 */
export function grant(state: SlotsState, now: number): void {
  for (let i = 0; i < state.queue.length;) {
    if (state.limit !== null && state.holders.length >= state.limit) return;
    const w = state.queue[i]!;
    const own = w.ownLimit;
    if (own !== undefined && state.holders.filter((h) => h.ownLimit === own).length >= own) {
      i++;
      continue;
    }
    state.queue.splice(i, 1);
    state.holders.push({
      workflowId: w.workflowId,
      runId: w.runId,
      since: now,
      ...(own !== undefined ? { ownLimit: own } : {}),
      told: false,
    });
  }
}

/** What the acquire answers `ref` (which must hold or wait); the run now knows it, so no signal repeats it. */
export function answer(state: SlotsState, ref: SlotRef): SlotAnswer {
  const holder = state.holders.find((h) => sameRun(h, ref));
  if (holder) {
    holder.told = true;
    return { position: 0, limit: limitFor(state, holder.ownLimit), seq: nextSeq(state) };
  }
  const index = state.queue.findIndex((w) => sameRun(w, ref));
  const waiter = state.queue[index]!;
  waiter.told = index + 1;
  return { position: index + 1, limit: limitFor(state, waiter.ownLimit), seq: nextSeq(state) };
}

function nextSeq(state: SlotsState): number {
  state.seq = (state.seq ?? 0) + 1;
  return state.seq;
}

/**
 * The signals to send now: grants (holders not told yet), then position updates for waiters whose position changed
 * and is worth telling (exact up to EXACT_POSITIONS, else when it has at least halved since last told), so the
 * limiter's signal count stays O(queue × log queue).
 */
export function nextUpdates(state: SlotsState, now: number): (SlotRef & { update: SlotUpdate })[] {
  grant(state, now);
  const out: (SlotRef & { update: SlotUpdate })[] = [];
  const { key } = state;
  for (const h of state.holders) {
    if (h.told) continue;
    h.told = true;
    out.push({
      workflowId: h.workflowId,
      runId: h.runId,
      update: { key, position: 0, limit: limitFor(state, h.ownLimit), seq: nextSeq(state) },
    });
  }
  state.queue.forEach((w, i) => {
    const position = i + 1;
    const worth =
      w.told === 0 || (position !== w.told && (position <= EXACT_POSITIONS || position * 2 <= w.told));
    if (!worth) return;
    w.told = position;
    out.push({
      workflowId: w.workflowId,
      runId: w.runId,
      update: { key, position, limit: limitFor(state, w.ownLimit), seq: nextSeq(state) },
    });
  });
  return out;
}

/**
 * The create activity's answer when the run must wait for a slot first (the worker limits the model, or the request
 * has its own limit): nothing created. `limit` is the operator's, null when the worker sets none for this key.
 */
export interface SlotNeeded {
  slotNeeded: { key: string; limit: number | null };
}

export function isSlotNeeded(x: unknown): x is SlotNeeded {
  return typeof x === 'object' && x !== null && 'slotNeeded' in x;
}

/** `queued: position N for <key> (limit L)`: a waiting run in the UI's current details and the CLI. */
export function queuedLine(queue: { key: string; position: number | null; limit: number }): string {
  const where = queue.position === null ? 'waiting for a slot' : `position ${queue.position}`;
  return `queued: ${where} for ${queue.key} (limit ${queue.limit})`;
}
