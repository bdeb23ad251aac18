/**
 * `replicateSlots`: the durable semaphore of one model or deployment (id `replicate-slots:<key>`, the classic
 * Temporal mutex pattern with N permits). Its state changes only through validated Updates: a run asks with
 * `slotAcquire` (sent by the `requestSlot` activity through update-with-start, which workflows cannot do) and is
 * answered its position (0 = the slot is its), and gives the slot back with `slotRelease`. A waiter hears
 * `slotUpdate` signals: new positions, and "ask again" when a slot may be its (a signal proves nothing, so the run's
 * next acquire decides). The queue is in the runs' start order. Runs are known by workflow id and chain
 * (`firstExecutionRunId`): a run terminated and started again under the same id is another run, and the slot of a
 * holder that closed without releasing is recovered by asking Temporal which holders still run. Continues as new
 * with its state when the history grows; ends by itself after being idle for a while. The bookkeeping is pure
 * (../shared/slots.ts). Deterministic code only.
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setDefaultSignalHandler,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { SlotActivities } from '../activities/slots';
import {
  SlotFailureType,
  acquireProblem,
  answer,
  enqueue,
  grant,
  leave,
  nextUpdates,
  otherRuns,
  releaseProblem,
  sameRun,
  type SlotAnswer,
  type SlotRef,
  type SlotRequest,
  type SlotUpdate,
  type SlotsState,
} from '../shared/slots';
import { slotHoldersOptions } from './retry-policies';

/** A run asks for a slot (sent through update-with-start by the `requestSlot` activity); answered its position. */
export const slotAcquireUpdate = defineUpdate<SlotAnswer, [SlotRequest]>('slotAcquire');
/** A run gives its slot back, or leaves the queue; refused for a run that neither holds nor waits. */
export const slotReleaseUpdate = defineUpdate<void, [SlotRef]>('slotRelease');
/** The limiter tells a waiting run its position; 0 = a slot may be yours, ask again. */
export const slotUpdateSignal = defineSignal<[SlotUpdate]>('slotUpdate');
/** The limiter's state: limit, holders, queue in order. */
export const slotsQuery = defineQuery<SlotsState>('slots');

/** At most this many signals are in flight at once (Temporal refuses more than 2,000 pending per workflow). */
const SIGNALS_AT_ONCE = 500;

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
    limit: args.limit ?? null,
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
  /** Forget runs that no longer run (Temporal says so); returns those that do. */
  const recover = async (refs: SlotRef[]): Promise<SlotRef[]> => {
    const gone = await slotHoldersGone(refs);
    for (const ref of gone) {
      log.warn(`slot of ${ref.workflowId} on ${state.key} recovered: that run closed without releasing it`, {
        key: state.key,
        workflowId: ref.workflowId,
      });
      leave(state, ref);
      dirty = true;
    }
    return refs.filter((r) => !gone.some((g) => sameRun(g, r)));
  };

  setHandler(
    slotAcquireUpdate,
    async (request) => {
      // The same workflow id as another run: that run must have closed (one id runs once at a time), or this
      // request is forged. Temporal decides.
      const others = otherRuns(state, request);
      if (others.length > 0 && (await recover(others)).length > 0) {
        throw ApplicationFailure.create({
          type: SlotFailureType.RunMismatch,
          message: `${request.workflowId} already asked as another run, which still runs`,
          nonRetryable: true,
        });
      }
      enqueue(state, request);
      grant(state, Date.now());
      dirty = true;
      return answer(state, request);
    },
    { validator: (request) => refuse(acquireProblem(state, request)) },
  );
  setHandler(
    slotReleaseUpdate,
    (ref) => {
      leave(state, ref);
      dirty = true;
    },
    {
      validator: (ref) => {
        const message = releaseProblem(state, ref);
        refuse(message === null ? null : { type: SlotFailureType.NotHeld, message });
      },
    },
  );
  setHandler(slotsQuery, () => state);
  // Signals change nothing here (anyone with namespace access can send one): dropped, not buffered.
  setDefaultSignalHandler((signalName) => {
    log.warn(`signal ${signalName} ignored: the limiter of ${state.key} changes only through its updates`, {
      key: state.key,
    });
  });

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
    if (idle) {
      await condition(allHandlersFinished);
      if (dirty) continue;
      return; // an update arriving now makes Temporal reject the completion and run us again
    }
    await recover(state.holders.map(({ workflowId, runId }) => ({ workflowId, runId })));
  }
}

function refuse(problem: { type: string; message: string } | null): void {
  if (problem) throw ApplicationFailure.create({ ...problem, nonRetryable: true });
}

/**
 * Grants and position updates, at most SIGNALS_AT_ONCE in flight; a run that is gone (closed, terminated) leaves.
 * A signal goes to the workflow id's current run: a grant that reaches another run of the same id only makes it ask.
 */
async function sendUpdates(state: SlotsState, changed: () => void): Promise<void> {
  const updates = nextUpdates(state, Date.now());
  for (let i = 0; i < updates.length; i += SIGNALS_AT_ONCE) {
    await Promise.all(
      updates.slice(i, i + SIGNALS_AT_ONCE).map(({ update, ...ref }) =>
        getExternalWorkflowHandle(ref.workflowId)
          .signal(slotUpdateSignal, update)
          .catch((error: unknown) => {
            log.info(`${ref.workflowId} left ${state.key}: it no longer runs`, {
              key: state.key,
              workflowId: ref.workflowId,
              error: String(error),
            });
            if (leave(state, ref) || update.position === 0) changed();
          }),
      ),
    );
  }
}
