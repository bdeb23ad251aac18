/**
 * `watchLateCommits`: a run whose create attempt may have committed without an answer starts this child (which
 * outlives the run: ABANDON). Replicate may commit such a create long after the attempt gave up (we have seen 38 s),
 * and a paid job would then run to completion beside the run's own. Until `until`, every LATE_COMMIT_WATCH.everyMs,
 * it searches for jobs the run's attempts may have made (`findOwnJobs`, the adoption rule), claims each for the run
 * (../claim.ts: a job another run claimed is theirs and never touched) and cancels it at Replicate. The run's own
 * job (`keep`) is left alone. A commit is canceled within about one interval plus one listing of its appearance.
 * Deterministic code only.
 */
import { log, proxyActivities, setCurrentDetails, sleep, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { isTerminal, type JobKind } from '../shared/types';
import { claimJob, claimsSettled } from './claim';
import { LATE_COMMIT_WATCH, cancelOptions, findOwnJobsOptions } from './retry-policies';

export interface LateCommitWatch {
  /** the run whose create attempts these were */
  owner: string;
  kind: JobKind;
  model: string;
  deployment?: boolean;
  input: Record<string, unknown>;
  /** the attempts' Cancel-After target (ISO 8601) */
  cancelAt: string;
  /** when the first attempt that may have committed was sent (ISO 8601) */
  since: string;
  /** the watch ends at this instant (ISO 8601) */
  until: string;
  /** the run's own job: never touched */
  keep: string | null;
  /** check this often (default LATE_COMMIT_WATCH.everyMs) */
  everyMs?: number;
  /** the fleet's rate-limited reads queue, when the run knows it */
  readsTaskQueue?: string;
}

export interface LateCommitReport {
  /** late commits claimed for the run and canceled at Replicate */
  canceled: string[];
  /** late commits that had already ended when found (claimed, nothing to cancel) */
  ended: string[];
  /** matching jobs another run had claimed: theirs, untouched */
  othersClaimed: string[];
}

export async function watchLateCommits(watch: LateCommitWatch): Promise<LateCommitReport> {
  const queue = watch.readsTaskQueue ? { taskQueue: watch.readsTaskQueue } : {};
  const { findOwnJobs } = proxyActivities<Activities>({
    ...findOwnJobsOptions,
    ...queue,
    summary: `look for late commits of ${watch.owner}'s create`,
  });
  const { cancelPrediction } = proxyActivities<Activities>({ ...cancelOptions, ...queue });
  const report: LateCommitReport = { canceled: [], ended: [], othersClaimed: [] };
  const settled = new Set<string>(watch.keep ? [watch.keep] : []);
  const until = Date.parse(watch.until);
  const every = watch.everyMs ?? LATE_COMMIT_WATCH.everyMs;
  const show = () =>
    setCurrentDetails(
      `watching for late commits of \`${watch.owner}\`'s create until ${watch.until}: ${report.canceled.length} canceled, ${report.othersClaimed.length} left to other runs`,
    );
  show();
  while (Date.now() < until) {
    await sleep(Math.min(every, until - Date.now()), { summary: 'wait before the next look' });
    const { kind, model, deployment, input, cancelAt, since, owner } = watch;
    const found = await findOwnJobs({
      kind,
      model,
      deployment,
      input,
      cancelAt,
      since,
      workflowId: owner,
      exclude: [...settled],
    });
    for (const job of found) {
      if (settled.has(job.id)) continue;
      settled.add(job.id);
      if (!(await claimJob({ jobId: job.id, kind, owner }))) {
        report.othersClaimed.push(job.id);
        continue;
      }
      if (isTerminal(job.status)) {
        report.ended.push(job.id);
        continue;
      }
      await cancelPrediction(job.id, kind);
      report.canceled.push(job.id);
      log.warn(`canceled ${kind} ${job.id}: a create of ${owner} that Replicate committed late`, {
        predictionId: job.id,
        owner,
        workflowId: workflowInfo().workflowId,
      });
    }
    show();
  }
  await claimsSettled();
  return report;
}
