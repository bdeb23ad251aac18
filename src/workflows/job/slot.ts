/**
 * A job run's side of per-model concurrency: create the job, but when the run must wait for a slot of its model's
 * limiter (../slots.ts) ask for one first, and give it back at the end, whatever the end. Whether to wait comes from
 * the create activity (`{ slotNeeded }`: the worker's REPLICATE_MODEL_CONCURRENCY for the model in any form, or the
 * request's own `concurrencyLimit`; a model without either costs no event at all). Only the limiter's answer to an
 * acquire grants a slot: a `slotUpdate` signal (which anyone with namespace access could send) only makes the run
 * ask again. While queued, the `status` query and the UI's current details show the position. A slot held across
 * continue-as-new travels in `resume`. Deterministic code only.
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { SlotActivities } from '../../activities/slots';
import { PredictionFailureType } from '../../shared/failures';
import { isSlotNeeded, slotKey, type SlotAnswer, type SlotNeeded } from '../../shared/slots';
import type {
  JobKind,
  PredictionRequest,
  PredictionSnapshot,
  PredictionState,
  TrainingRequest,
} from '../../shared/types';
import { slotUpdateSignal } from '../slots';
import { releaseSlotOptions, requestSlotOptions } from '../retry-policies';
import { currentDetails } from './outcome';

/** A slot this run holds: carried across continue-as-new so the last run releases it. */
export interface HeldSlot {
  key: string;
  /** the operator's limit the worker answered; null when only the request's own limit applies */
  limit: number | null;
  ownLimit?: number;
}

type Create = (checkConcurrency: boolean) => Promise<PredictionSnapshot | SlotNeeded>;

export class JobSlot {
  private slot: HeldSlot | undefined;
  /** asked the limiter (holding or queued): the end must tell it */
  private asked: boolean;
  private granted: boolean;
  /** the limiter said a slot may be ours: ask it */
  private woken = false;
  /** the newest position shown (the limiter's seq): an older answer or signal arriving late is not shown */
  private shownSeq = 0;
  /** the slot travels to the next run (continue-as-new): do not release it */
  carriedOver = false;

  constructor(
    private readonly kind: JobKind,
    private readonly request: PredictionRequest | TrainingRequest,
    private readonly state: PredictionState,
    held: HeldSlot | undefined,
  ) {
    this.slot = held;
    this.asked = held !== undefined;
    this.granted = held !== undefined;
    setHandler(slotUpdateSignal, (update) => {
      if (this.slot === undefined || update.key !== this.slot.key || this.granted) return;
      if (update.position === 0) this.woken = true;
      else this.show(update);
    });
  }

  /** What continue-as-new carries: the slot this run holds, if any. */
  held(): HeldSlot | undefined {
    return this.granted ? this.slot : undefined;
  }

  /**
   * Create the job through `create`; when the run must wait for a slot, wait first (until the deadline: the
   * enclosing scope's timeout ends the wait, and nothing is created then).
   */
  async create(create: Create, startedAt: number, deadline: number): Promise<PredictionSnapshot> {
    const own = this.request.concurrencyLimit;
    // A training's create does not answer slotNeeded: only its own limit applies, under its model's key.
    const key = this.kind === 'training' && own !== undefined ? slotKey(this.request.model) : null;
    if (key !== null) {
      await this.acquire({ key, limit: null, ownLimit: own }, startedAt, deadline);
      return this.created(await create(false));
    }
    const first = await create(true);
    if (!isSlotNeeded(first)) return first;
    await this.acquire(
      { ...first.slotNeeded, ...(own !== undefined ? { ownLimit: own } : {}) },
      startedAt,
      deadline,
    );
    return this.created(await create(false));
  }

  /** Give the slot back, or leave the queue (never anything else); a no-op without a slot or when carried over. */
  async release(): Promise<void> {
    const slot = this.slot;
    if (slot === undefined || !this.asked || this.carriedOver) return;
    this.asked = false;
    this.state.queue = null;
    const { releaseSlot } = proxyActivities<SlotActivities>({
      ...releaseSlotOptions,
      summary: `give back the slot of ${slot.key}`,
    });
    try {
      await CancellationScope.nonCancellable(() => releaseSlot(slot.key, workflowInfo().firstExecutionRunId));
    } catch (error) {
      // The limiter finds the slot of a closed run by itself (it asks Temporal which holders still run).
      log.warn(`could not release the slot of ${slot.key}: ${String(error)}`, { key: slot.key });
    }
  }

  private async acquire(slot: HeldSlot, startedAt: number, deadline: number): Promise<void> {
    this.slot = slot;
    this.asked = true;
    const ownLimit = slot.ownLimit;
    this.show({ position: null, limit: Math.min(slot.limit ?? Infinity, ownLimit ?? Infinity) });
    const { requestSlot } = proxyActivities<SlotActivities>({
      ...requestSlotOptions,
      scheduleToCloseTimeout: Math.max(1_000, deadline - Date.now()),
      summary: `ask for a slot of ${slot.key}`,
    });
    const request = {
      runId: workflowInfo().firstExecutionRunId,
      startedAt,
      limit: slot.limit,
      ...(ownLimit !== undefined ? { ownLimit } : {}),
    };
    // Non-cancellable: a request on the wire must land before any release, or the queue would keep a ghost.
    const ask = (): Promise<SlotAnswer> =>
      CancellationScope.nonCancellable(() => requestSlot(slot.key, request));
    this.woken = false;
    let answer = await ask();
    while (answer.position !== 0) {
      this.show(answer);
      await condition(() => this.woken); // already true when a grant came while we asked
      this.woken = false;
      answer = await ask();
    }
    // The deadline came while we asked: leave (the end releases the slot) without creating.
    const scope = CancellationScope.current();
    if (scope.consideredCancelled) await scope.cancelRequested;
    this.granted = true;
    this.state.queue = null;
    log.info(`slot of ${slot.key} granted (limit ${answer.limit})`, { key: slot.key });
  }

  private show({ position, limit, seq }: { position: number | null; limit: number; seq?: number }): void {
    if (seq !== undefined) {
      if (seq <= this.shownSeq) return;
      this.shownSeq = seq;
    }
    this.state.queue = { key: this.slot!.key, position, limit };
    setCurrentDetails(currentDetails(this.state));
  }

  private created(answer: PredictionSnapshot | SlotNeeded): PredictionSnapshot {
    if (!isSlotNeeded(answer)) return answer;
    throw ApplicationFailure.create({
      type: PredictionFailureType.InvalidRequest,
      message: `the create of ${this.request.model} asked for a slot again after one was granted`,
      nonRetryable: true,
    });
  }
}
