/**
 * Ownership of a Replicate job, proven by Temporal: a run takes a job (one it created, or one a lost attempt made)
 * only by starting the child workflow `replicate-claim:<job id>`. Workflow ids are unique, and the claim is started
 * with REJECT_DUPLICATE, so a second claim of the same job fails at once, strongly consistent, whoever tries: a twin
 * with the same input, a sibling of the same fan-out, a late-commit watch. No visibility query, no search attribute,
 * nothing to wire: an embedding app's worker needs only our workflows (this one included) registered.
 * The claim workflow records who claimed (its input) and ends at once; it is retained with the namespace's
 * retention period, far longer than any window in which a job could be claimed twice. Deterministic code only.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import { CancellationScope, ParentClosePolicy, log, startChild } from '@temporalio/workflow';
import { claimWorkflowId, type JobClaim } from '../shared/ownership';

export type { JobClaim };

/** The claim itself: its existence is the proof; it returns who claimed. */
export async function replicateClaim(claim: JobClaim): Promise<JobClaim> {
  return claim;
}

/** The claims this workflow started that have not ended yet (module state is per workflow execution). */
const unsettled: Promise<void>[] = [];

/**
 * Claim `jobId` for `owner`: true when this call made the claim, false when someone else's claim exists. The claim
 * is made when its start is accepted; the claim workflow itself ends a moment later (see `claimsSettled`).
 */
export async function claimJob(claim: JobClaim): Promise<boolean> {
  try {
    // Non-cancellable: a claim on the wire must be known either way, or a cancel could leave a job claimed by no one.
    const child = await CancellationScope.nonCancellable(() =>
      startChild(replicateClaim, {
        workflowId: claimWorkflowId(claim.jobId),
        args: [claim],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowExecutionTimeout: '1m',
        staticSummary: `${claim.kind} ${claim.jobId} belongs to ${claim.owner}`,
      }),
    );
    unsettled.push(
      CancellationScope.nonCancellable(() => child.result()).then(
        () => undefined,
        (error: unknown) => {
          // The claim holds (its id was reserved at its start); only its own run failed, typically because the
          // worker does not register replicateClaim.
          log.warn(
            `the claim of ${claim.jobId} did not run (${String(error)}); export replicateClaim from your workflows (export * from 'replicate-temporal/workflows')`,
            { predictionId: claim.jobId },
          );
        },
      ),
    );
    return true;
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) return false;
    throw error;
  }
}

/**
 * Wait until every claim this workflow started has ended (normally long ago), so that a run never closes with its
 * claims still pending. Call it last, in a non-cancellable scope.
 */
export async function claimsSettled(): Promise<void> {
  while (unsettled.length > 0) await unsettled.shift();
}
