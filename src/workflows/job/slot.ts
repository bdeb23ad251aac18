/**
 * A job run's side of per-model concurrency: create the job, but when the model is limited
 * first wait for a slot of its limiter (../slots.ts), and give the slot back at the end, whatever the end. The
 * limit comes from the create activity (`{ slotNeeded }`: the worker's REPLICATE_MODEL_CONCURRENCY, so a model
 * without a limit costs no event at all) or from the request's `concurrencyLimit`. While queued, the `status`
 * query and the UI's current details show the position. A slot held across continue-as-new travels in `resume`.
 * Deterministic code only.
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { SlotActivities } from '../../activities/slots';
import { PredictionFailureType } from '../../shared/failures';
import { isSlotNeeded, slotKey, slotsWorkflowId, type SlotNeeded } from '../../shared/slots';
import type {
  PredictionRequest,
  PredictionSnapshot,
  PredictionState,
  TrainingRequest,
} from '../../shared/types';
import { slotReleaseSignal, slotUpdateSignal } from '../slots';
import { requestSlotOptions } from '../retry-policies';
import { currentDetails } from './outcome';

/** A slot this run holds: carried across continue-as-new so the last run releases it. */
export interface HeldSlot {
  key: string;
  limit: number;
}

type Create = (checkConcurrency: boolean) => Promise<PredictionSnapshot | SlotNeeded>;

export class JobSlot {
  private slot: HeldSlot | undefined;
  /** asked the limiter (holding or queued): the end must tell it */
  private asked: boolean;
  private granted: boolean;
  /** the slot travels to the next run (continue-as-new): do not release it */
  carriedOver = false;

  constructor(
    private readonly request: PredictionRequest | TrainingRequest,
    private readonly state: PredictionState,
    held: HeldSlot | undefined,
  ) {
    this.slot = held;
    this.asked = held !== undefined;
    this.granted = held !== undefined;
    setHandler(slotUpdateSignal, (update) => {
      if (this.slot === undefined || update.key !== this.slot.key || this.granted) return;
      if (update.position === 0) this.granted = true;
      else {
        this.state.queue = { key: update.key, position: update.position, limit: update.limit };
        setCurrentDetails(currentDetails(this.state));
      }
    });
  }

  /** What continue-as-new carries: the slot this run holds, if any. */
  held(): HeldSlot | undefined {
    return this.granted ? this.slot : undefined;
  }

  /**
   * Create the job through `create`; for a limited model wait for a slot first (until the deadline: the enclosing
   * scope's timeout ends the wait, and nothing is created then).
   */
  async create(create: Create, startedAt: number, deadline: number): Promise<PredictionSnapshot> {
    const explicit = (this.request as PredictionRequest).concurrencyLimit;
    const key = slotKey(this.request.model, (this.request as PredictionRequest).deployment === true);
    if (explicit !== undefined && key !== null) {
      await this.acquire({ key, limit: explicit }, startedAt, deadline);
      return this.created(await create(false));
    }
    const first = await create(true);
    if (!isSlotNeeded(first)) return first;
    await this.acquire(first.slotNeeded, startedAt, deadline);
    return this.created(await create(false));
  }

  /** Give the slot back, or leave the queue (never anything else); a no-op without a slot or when carried over. */
  async release(): Promise<void> {
    const slot = this.slot;
    if (slot === undefined || !this.asked || this.carriedOver) return;
    this.asked = false;
    this.state.queue = null;
    const { workflowId } = workflowInfo();
    try {
      await CancellationScope.nonCancellable(() =>
        getExternalWorkflowHandle(slotsWorkflowId(slot.key)).signal(slotReleaseSignal, { workflowId }),
      );
    } catch (error) {
      // The limiter is gone (terminated by hand): nothing is held there any more.
      log.warn(`could not release the slot of ${slot.key}: ${String(error)}`, { key: slot.key });
    }
  }

  private async acquire(slot: HeldSlot, startedAt: number, deadline: number): Promise<void> {
    this.slot = slot;
    this.asked = true;
    this.state.queue = { key: slot.key, position: null, limit: slot.limit };
    setCurrentDetails(currentDetails(this.state));
    const { requestSlot } = proxyActivities<SlotActivities>({
      ...requestSlotOptions,
      scheduleToCloseTimeout: Math.max(1_000, deadline - Date.now()),
      summary: `ask for a slot of ${slot.key} (limit ${slot.limit})`,
    });
    // Non-cancellable: a request on the wire must land before any release, or the queue would keep a ghost.
    await CancellationScope.nonCancellable(() => requestSlot(slot.key, { startedAt, limit: slot.limit }));
    await condition(() => this.granted);
    this.state.queue = null;
    log.info(`slot of ${slot.key} granted (limit ${slot.limit})`, { key: slot.key });
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
