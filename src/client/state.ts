/** What a running prediction says about itself: its `status` query, bounded in time. */
import type { WorkflowHandle } from '@temporalio/client';
import type { PredictionState } from '../shared/types';
import { statusQuery, type runPrediction } from '../workflows';

/**
 * The run's `status` query, or null when it fails or takes over `timeoutMs` (default 2 s): a query needs a
 * worker, and with none polling it would wait for one.
 */
export async function predictionState(
  handle: WorkflowHandle<typeof runPrediction>,
  { timeoutMs = 2_000 }: { timeoutMs?: number } = {},
): Promise<PredictionState | null> {
  return handle.client
    .withDeadline(Date.now() + timeoutMs, () => handle.query(statusQuery))
    .catch(() => null);
}
