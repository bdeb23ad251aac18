/**
 * `replicateSlots`: the durable semaphore of one model or deployment (id `replicate-slots:<key>`, the classic
 * Temporal mutex pattern with N permits). Runs ask with the `slotAcquire` signal (sent by the `requestSlot`
 * activity through signalWithStart, which workflows cannot do), hear `slotUpdate` (their queue position, 0 = the
 * slot is theirs) and give it back with `slotRelease`. The queue is in the runs' start order. Slots of holders
 * that closed without releasing (terminated runs) are recovered by asking Temporal which holders still run.
 * Continues as new with its state when the history grows; ends by itself after being idle for a while.
 * The bookkeeping is pure (../shared/slots.ts). Deterministic code only.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { SlotActivities } from '../activities/slots';
import {
  enqueue,
  leave,
  nextUpdates,
  type SlotRequest,
  type SlotUpdate,
  type SlotsState,
} from '../shared/slots';
import { slotHoldersOptions } from './retry-policies';

/** A run asks for a slot (sent through signalWithStart by the `requestSlot` activity). */
export const slotAcquireSignal = defineSignal<[SlotRequest]>('slotAcquire');
/** A run gives its slot back, or leaves the queue. */
export const slotReleaseSignal = defineSignal<[{ workflowId: string }]>('slotRelease');
/** The limiter tells a waiting run its position; 0 = granted. */
export const slotUpdateSignal = defineSignal<[SlotUpdate]>('slotUpdate');
/** The limiter's state: limit, holders, queue in order. */
export const slotsQuery = defineQuery<SlotsState>('slots');

export interface SlotsOptions {
  /** how often to ask which holders still run while someone waits, ms (default 30 s) */
  checkEveryMs?: number;
  /** the same while nobody waits but slots are held (default 5 min) */
  idleCheckEveryMs?: number;
  /** end after this long without holders or waiters, ms (default 5 min) */
  idleExitMs?: number;
  /** continue as new past this many history events (default 5,000, or when Temporal suggests it) */
  maxHistoryEvents?: number;
}

export interface SlotsArgs extends Partial<Omit<SlotsState, 'key'>> {
  key: string;
  options?: SlotsOptions;
}

export async function replicateSlots(args: SlotsArgs): Promise<void> {
  const state: SlotsState = {
    key: args.key,
    limit: args.limit ?? 1,
    holders: args.holders ?? [],
    queue: args.queue ?? [],
  };
  const options = args.options ?? {};
  const checkEveryMs = options.checkEveryMs ?? 30_000;
  const idleCheckEveryMs = options.idleCheckEveryMs ?? 300_000;
  const idleExitMs = options.idleExitMs ?? 300_000;
  const maxHistoryEvents = options.maxHistoryEvents ?? 5_000;
  const { slotHoldersGone } = proxyActivities<SlotActivities>(slotHoldersOptions);

  let dirty = true;
  setHandler(slotAcquireSignal, (request) => {
    enqueue(state, request);
    dirty = true;
  });
  setHandler(slotReleaseSignal, ({ workflowId }) => {
    leave(state, workflowId);
    dirty = true;
  });
  setHandler(slotsQuery, () => state);

  for (;;) {
    while (dirty) {
      dirty = false;
      await sendUpdates(state, () => (dirty = true));
    }
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > maxHistoryEvents) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof replicateSlots>({ ...state, options });
    }
    const idle = state.holders.length === 0 && state.queue.length === 0;
    const wait = idle ? idleExitMs : state.queue.length > 0 ? checkEveryMs : idleCheckEveryMs;
    if (await condition(() => dirty, wait)) continue;
    if (idle) return; // a signal arriving now makes Temporal reject the completion and run us again
    const gone = await slotHoldersGone(state.holders.map((h) => h.workflowId));
    for (const workflowId of gone) {
      log.warn(`slot of ${workflowId} on ${state.key} recovered: the run closed without releasing it`, {
        key: state.key,
        workflowId,
      });
      leave(state, workflowId);
      dirty = true;
    }
  }
}

/** Grants and position updates, in parallel; a waiter that is gone (closed, terminated) leaves the queue. */
async function sendUpdates(state: SlotsState, changed: () => void): Promise<void> {
  const updates = nextUpdates(state, Date.now());
  await Promise.all(
    updates.map(({ workflowId, update }) =>
      getExternalWorkflowHandle(workflowId)
        .signal(slotUpdateSignal, update)
        .catch((error: unknown) => {
          log.info(`${workflowId} left ${state.key}: it no longer runs`, {
            key: state.key,
            workflowId,
            error: String(error),
          });
          if (leave(state, workflowId) || update.position === 0) changed();
        }),
    ),
  );
}
