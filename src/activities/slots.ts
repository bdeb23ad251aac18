/**
 * Activities of per-model concurrency: `requestSlot` asks a model's limiter for a slot (signalWithStart: it starts
 * the limiter if none runs; workflows cannot do that themselves), `slotHoldersGone` tells the limiter which of its
 * holders no longer run (terminated without releasing). Both need a Temporal client, like the reconciler's.
 * `slotNeededFor` is the worker's limit lookup the create activity does first (docs/architecture.md says why there).
 */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { slotKey, slotsWorkflowId, type SlotNeeded, type SlotRequest } from '../shared/slots';
import { replicateSlots, slotAcquireSignal, type SlotsOptions } from '../workflows/slots';

/** The limit the worker's REPLICATE_MODEL_CONCURRENCY sets for this model, as the create's answer; else null. */
export function slotNeededFor(
  limits: Record<string, number> | undefined,
  model: string,
  deployment: boolean | undefined,
): SlotNeeded | null {
  if (!limits) return null;
  const key = slotKey(model, deployment === true);
  const limit = key === null ? undefined : limits[key];
  return key !== null && limit !== undefined ? { slotNeeded: { key, limit } } : null;
}

/** `limiter`: the options a limiter started by these activities gets (how often it checks holders, idle exit). */
export function createSlotActivities(temporal: { client: Client; limiter?: SlotsOptions }) {
  const { client, limiter } = temporal;
  return {
    /** Ask the limiter of `key` for a slot for the calling run (a repeat is harmless: the limiter dedupes). */
    async requestSlot(key: string, request: Omit<SlotRequest, 'workflowId'>): Promise<void> {
      const { workflowExecution, taskQueue } = Context.current().info;
      if (!workflowExecution) throw new Error('requestSlot runs only as an activity of a workflow');
      await client.workflow.signalWithStart(replicateSlots, {
        workflowId: slotsWorkflowId(key),
        taskQueue,
        args: [{ key, limit: request.limit, ...(limiter ? { options: limiter } : {}) }],
        signal: slotAcquireSignal,
        signalArgs: [{ ...request, workflowId: workflowExecution.workflowId }],
      });
    },
    /** Which of these workflows are no longer running (closed, terminated, unknown). */
    async slotHoldersGone(workflowIds: string[]): Promise<string[]> {
      const gone: string[] = [];
      for (const id of workflowIds) {
        try {
          const d = await client.workflow.getHandle(id).describe();
          if (d.status.name !== 'RUNNING') gone.push(id);
        } catch (error) {
          if (!(error instanceof WorkflowNotFoundError)) throw error;
          gone.push(id);
        }
      }
      return gone;
    },
  };
}

export type SlotActivities = ReturnType<typeof createSlotActivities>;
