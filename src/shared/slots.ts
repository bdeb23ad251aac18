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
 * The key a prediction counts against: `owner/name` for a model (whatever its version), `deployments/owner/name`
 * for a deployment, the version id for a bare version; null when `model` is not a model reference.
 */
export function slotKey(model: string, deployment = false): string | null {
  const target = parseModelRef(model, deployment);
  if (!isCreateTarget(target)) return null;
  if (target.route === 'deployment') return `deployments/${target.owner}/${target.name}`;
  if (target.route === 'model') return `${target.owner}/${target.name}`;
  return target.model ?? target.version;
}

const ENTRY = /^(deployments\/)?([a-zA-Z0-9][a-zA-Z0-9._-]*\/[a-zA-Z0-9][a-zA-Z0-9._-]*|[a-f0-9]{64})=(\d+)$/;

/**
 * Parse `REPLICATE_MODEL_CONCURRENCY` (`owner/name=N,deployments/owner/name=N,...`, N ≥ 1) into key -> limit.
 * Returns the problem (naming the entry and the fix) instead of throwing, so config.ts can wrap it.
 */
export function parseModelConcurrency(raw: string): Record<string, number> | { error: string } {
  const limits: Record<string, number> = {};
  for (const part of raw.split(',')) {
    const entry = part.trim();
    if (entry === '') continue;
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

/** What a run asks the limiter for (the `slotAcquire` signal). */
export interface SlotRequest {
  workflowId: string;
  /** when the run (the first of its continue-as-new chain) started, ms: the queue's order */
  startedAt: number;
  /** the limit as the asking worker (or the request) knows it; the latest request's limit is in force */
  limit: number;
}

/** What the limiter tells a waiting run (the `slotUpdate` signal): position 0 = the slot is yours. */
export interface SlotUpdate {
  key: string;
  position: number;
  limit: number;
}

export interface SlotHolder {
  workflowId: string;
  /** when the slot was granted, ms */
  since: number;
}

export interface SlotWaiter extends SlotRequest {
  /** the last position this waiter was told (0 = never told) */
  told: number;
}

/** The limiter's whole state; carried across continue-as-new. */
export interface SlotsState {
  key: string;
  limit: number;
  holders: SlotHolder[];
  queue: SlotWaiter[];
}

/** Waiters are told their exact position up to here; further back, only when it has at least halved. */
export const EXACT_POSITIONS = 10;

/** Record a request: queued in start order (ties by workflow id); a repeat (a retried activity) changes nothing. */
export function enqueue(state: SlotsState, request: SlotRequest): void {
  if (Number.isSafeInteger(request.limit) && request.limit >= 1) state.limit = request.limit;
  if (state.holders.some((h) => h.workflowId === request.workflowId)) return;
  if (state.queue.some((w) => w.workflowId === request.workflowId)) return;
  state.queue.push({ ...request, told: 0 });
  state.queue.sort((a, b) => a.startedAt - b.startedAt || (a.workflowId < b.workflowId ? -1 : 1));
}

/** Forget `workflowId` as a holder or a waiter; true when it held a slot. Releasing what one never had is a no-op. */
export function leave(state: SlotsState, workflowId: string): boolean {
  const held = state.holders.length;
  state.holders = state.holders.filter((h) => h.workflowId !== workflowId);
  state.queue = state.queue.filter((w) => w.workflowId !== workflowId);
  return state.holders.length < held;
}

/**
 * The signals to send now: grants to the queue's head while slots are free (moved to holders), then position
 * updates for waiters whose position changed and is worth telling (exact up to EXACT_POSITIONS, else when it has
 * at least halved since last told), so the limiter's signal count stays O(queue × log queue).
 */
export function nextUpdates(state: SlotsState, now: number): { workflowId: string; update: SlotUpdate }[] {
  const out: { workflowId: string; update: SlotUpdate }[] = [];
  const { key, limit } = state;
  while (state.holders.length < limit && state.queue.length > 0) {
    const next = state.queue.shift()!;
    state.holders.push({ workflowId: next.workflowId, since: now });
    out.push({ workflowId: next.workflowId, update: { key, position: 0, limit } });
  }
  state.queue.forEach((w, i) => {
    const position = i + 1;
    const worth =
      w.told === 0 || (position !== w.told && (position <= EXACT_POSITIONS || position * 2 <= w.told));
    if (!worth) return;
    w.told = position;
    out.push({ workflowId: w.workflowId, update: { key, position, limit } });
  });
  return out;
}

/** The create activity's answer when the worker limits the model and the run holds no slot yet: nothing created. */
export interface SlotNeeded {
  slotNeeded: { key: string; limit: number };
}

export function isSlotNeeded(x: unknown): x is SlotNeeded {
  return typeof x === 'object' && x !== null && 'slotNeeded' in x;
}

/** `queued: position N for <key> (limit L)`: a waiting run in the UI's current details and the CLI. */
export function queuedLine(queue: { key: string; position: number | null; limit: number }): string {
  const where = queue.position === null ? 'waiting for a slot' : `position ${queue.position}`;
  return `queued: ${where} for ${queue.key} (limit ${queue.limit})`;
}
