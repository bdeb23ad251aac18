/**
 * Ownership of a Replicate job: the claim a run makes (src/workflows/claim.ts) and where it lives. The workflow id
 * `replicate-claim:<job id>` can exist only once (REJECT_DUPLICATE keeps it while the closed claim is retained), so at
 * most one run ever owns a job; the claim's input says which.
 */
import type { JobKind } from './types';

export interface JobClaim {
  jobId: string;
  kind: JobKind;
  /** the workflow id of the run that owns the job */
  owner: string;
}

export function claimWorkflowId(jobId: string): string {
  return `replicate-claim:${jobId}`;
}
