/**
 * Activities of the orphan reconciler: which Replicate jobs do running workflows own? (Temporal visibility,
 * through the ReplicatePredictionId search attribute the workflows upsert.)
 */
import type { Client } from '@temporalio/client';
import { ReplicatePredictionId } from '../shared/search-attributes';

export function createReconcileActivities(temporal: { client: Client }) {
  return {
    /** Ids of the jobs owned by runPrediction/runTraining workflows that are still running. */
    async listOwnedJobIds(): Promise<string[]> {
      const owned: string[] = [];
      const query = `ExecutionStatus = 'Running' AND WorkflowType IN ('runPrediction', 'runTraining')`;
      for await (const wf of temporal.client.workflow.list({ query })) {
        const id = wf.typedSearchAttributes.get(ReplicatePredictionId);
        if (id) owned.push(id);
      }
      return owned;
    },
  };
}

export type ReconcileActivities = ReturnType<typeof createReconcileActivities>;
