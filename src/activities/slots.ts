/**
 * Activities of per-model concurrency: `requestSlot` asks a model's limiter for a slot (update-with-start: it
 * starts the limiter if none runs; workflows cannot do that themselves) and returns its answer, `releaseSlot` gives
 * the slot back (an update the limiter validates), `slotHoldersGone` tells the limiter which runs no longer run
 * (terminated without releasing, or replaced by a new run of the same workflow id). They need a Temporal client,
 * like the reconciler's. `slotNeededFor` is the worker's limit lookup the create activity does first
 * (docs/architecture.md says why there).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import {
  WithStartWorkflowOperation,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { isCreateTarget, parseModelRef } from '../shared/model-ref';
import {
  SlotFailureType,
  slotKey,
  slotsWorkflowId,
  type SlotAnswer,
  type SlotNeeded,
  type SlotRef,
  type SlotRequest,
} from '../shared/slots';
import { replicateSlots, slotAcquireUpdate, slotReleaseUpdate, type SlotsOptions } from '../workflows/slots';

/** Which of `models` (owner/name) a bare version id belongs to, or null: see ./version-models.ts. */
export type VersionModelLookup = (version: string, models: string[]) => Promise<string | null>;

/**
 * Whether the run must wait for a slot before its create: the worker limits this model (REPLICATE_MODEL_CONCURRENCY)
 * or the request has its own limit (`ownLimit`). The key is the model whatever the form it is addressed in: a bare
 * version id is mapped to its model by `lookup` when the worker limits some model (only those can matter).
 */
export async function slotNeededFor(
  limits: Record<string, number> | undefined,
  model: string,
  deployment: boolean | undefined,
  ownLimit?: number,
  lookup?: VersionModelLookup,
): Promise<SlotNeeded | null> {
  const target = parseModelRef(model, deployment === true);
  let key = slotKey(model, deployment === true);
  if (key === null || !isCreateTarget(target)) return null;
  if (target.route === 'version' && target.model === null && limits && lookup) {
    const models = Object.keys(limits).filter((k) => !k.startsWith('deployments/'));
    if (models.length > 0) key = (await lookup(target.version, models)) ?? key;
  }
  const limit = limits?.[key] ?? null;
  if (limit === null && ownLimit === undefined) return null;
  return { slotNeeded: { key, limit } };
}

/** `limiter`: the options a limiter started by these activities gets (how often it checks holders, idle exit). */
export function createSlotActivities(temporal: { client: Client; limiter?: SlotsOptions }) {
  const { client, limiter } = temporal;
  const caller = () => {
    const { workflowExecution, taskQueue } = Context.current().info;
    if (!workflowExecution) throw new Error('slot activities run only as activities of a workflow');
    return { workflowId: workflowExecution.workflowId, taskQueue };
  };
  return {
    /**
     * Ask the limiter of `key` for a slot for the calling run: position 0 = granted, else its place in the queue.
     * A repeat from the same run is answered again (the limiter dedupes by run).
     */
    async requestSlot(key: string, request: Omit<SlotRequest, 'workflowId'>): Promise<SlotAnswer> {
      const { workflowId, taskQueue } = caller();
      try {
        return await client.workflow.executeUpdateWithStart(slotAcquireUpdate, {
          args: [{ ...request, workflowId }],
          startWorkflowOperation: new WithStartWorkflowOperation(replicateSlots, {
            workflowId: slotsWorkflowId(key),
            taskQueue,
            args: [{ key, limit: request.limit, ...(limiter ? { options: limiter } : {}) }],
            workflowIdConflictPolicy: 'USE_EXISTING',
          }),
        });
      } catch (error) {
        const refused = refusal(error);
        if (refused === undefined) throw error;
        // A full limiter frees up as runs end: ask again (the run's deadline bounds the retries).
        if (refused.type === SlotFailureType.QueueFull)
          throw ApplicationFailure.retryable(refused.message, refused.type);
        throw ApplicationFailure.nonRetryable(
          refused.message,
          refused.type ?? SlotFailureType.InvalidRequest,
        );
      }
    },
    /** Give the calling run's slot of `key` back (or leave its queue); done when the limiter has nothing of it. */
    async releaseSlot(key: string, runId: string): Promise<void> {
      const { workflowId } = caller();
      try {
        await client.workflow
          .getHandle(slotsWorkflowId(key))
          .executeUpdate(slotReleaseUpdate, { args: [{ workflowId, runId }] });
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return; // no limiter runs: nothing is held
        if (refusal(error)?.type === SlotFailureType.NotHeld) return; // released already, or recovered
        throw error;
      }
    },
    /**
     * Which of these runs no longer run: closed, unknown, or the workflow id now runs another chain (its first run
     * id differs). A server that does not report the first run id is trusted on the status alone.
     */
    async slotHoldersGone(refs: SlotRef[]): Promise<SlotRef[]> {
      const gone: SlotRef[] = [];
      for (const ref of refs) {
        try {
          const d = await client.workflow.getHandle(ref.workflowId).describe();
          const firstRunId = d.raw.workflowExecutionInfo?.firstRunId;
          if (d.status.name !== 'RUNNING' || (firstRunId && firstRunId !== ref.runId)) gone.push(ref);
        } catch (error) {
          if (!(error instanceof WorkflowNotFoundError)) throw error;
          gone.push(ref);
        }
      }
      return gone;
    },
  };
}

/** The limiter's refusal (a validator or handler failure) in `error`, if that is what it is. */
function refusal(error: unknown): { type: string | undefined; message: string } | undefined {
  if (!(error instanceof WorkflowUpdateFailedError)) return undefined;
  const cause = error.cause;
  if (!(cause instanceof ApplicationFailure)) return undefined;
  return { type: cause.type ?? undefined, message: cause.message };
}

export type SlotActivities = ReturnType<typeof createSlotActivities>;
