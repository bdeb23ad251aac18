/** Decide a pipeline's waiting approval step, through the pipeline's `approveStep` Update. */
import type { Client } from '@temporalio/client';
import type { Decision } from '../shared/pipeline';
import { approveStepUpdate, type ApproveStepArgs } from '../workflows/pipeline';

/**
 * Approve (`approve: true`) or reject step `step` of pipeline `pipelineId` while it waits; resolves with the
 * decision as the report records it (who, when, why). An unknown step, a step that is not an approval step, not
 * waiting or already decided is refused (WorkflowUpdateFailedError, its cause naming the problem): nothing changes.
 */
export async function approveStep(
  client: Client,
  pipelineId: string,
  args: ApproveStepArgs,
): Promise<Decision> {
  return client.workflow.getHandle(pipelineId).executeUpdate(approveStepUpdate, { args: [args] });
}
