/**
 * `reconcileOrphans`: find Replicate jobs that are still running but that no running workflow owns, and (with
 * `apply`) cancel them. Meant to run on a Temporal Schedule (`npm run -s client -- reconcile --schedule 10m`).
 *
 * Only jobs carrying a `deadline` are considered: we send Cancel-After on every create, so a job without one was
 * not started by this system (a script, the web UI) and is never touched. Jobs younger than `graceSeconds` are
 * left alone too: their workflow may not have recorded the id yet.
 */
import { log, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ReconcileActivities } from '../activities/reconcile';
import { NON_RETRYABLE_REPLICATE_ERRORS } from '../shared/failures';
import { isTerminal, type JobKind } from '../shared/types';

export interface ReconcileOptions {
  /** cancel the orphans (default false: report only) */
  apply?: boolean;
  /** how far back to list, minutes (default 60; Replicate keeps API predictions' data for an hour) */
  lookbackMinutes?: number;
  /** leave jobs younger than this alone, seconds (default 120) */
  graceSeconds?: number;
}

export interface OrphanReport {
  dryRun: boolean;
  scanned: number;
  running: number;
  owned: number;
  orphans: { id: string; kind: JobKind; model: string | null; status: string; createdAt: string }[];
  canceled: string[];
  cancelFailed: string[];
}

const { listRecentJobs, cancelPrediction } = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 5,
    nonRetryableErrorTypes: NON_RETRYABLE_REPLICATE_ERRORS,
  },
});
const { listOwnedJobIds } = proxyActivities<ReconcileActivities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
});

export async function reconcileOrphans(options: ReconcileOptions = {}): Promise<OrphanReport> {
  const apply = options.apply === true;
  const now = Date.now();
  const since = new Date(now - (options.lookbackMinutes ?? 60) * 60_000).toISOString();
  const graceMs = (options.graceSeconds ?? 120) * 1000;

  const jobs = [...(await listRecentJobs(since, 'prediction')), ...(await listRecentJobs(since, 'training'))];
  const running = jobs.filter(
    (j) => !isTerminal(j.status) && j.deadline !== null && Date.parse(j.createdAt) <= now - graceMs,
  );
  const owned = new Set(await listOwnedJobIds());
  const orphans = running.filter((j) => !owned.has(j.id));

  const canceled: string[] = [];
  const cancelFailed: string[] = [];
  if (apply) {
    for (const orphan of orphans) {
      try {
        await cancelPrediction(orphan.id, orphan.kind);
        canceled.push(orphan.id);
      } catch (error) {
        cancelFailed.push(orphan.id);
        log.error(`could not cancel orphan ${orphan.kind} ${orphan.id}`, { error: String(error) });
      }
    }
  }
  const report: OrphanReport = {
    dryRun: !apply,
    scanned: jobs.length,
    running: running.length,
    owned: running.length - orphans.length,
    orphans: orphans.map(({ id, kind, model, status, createdAt }) => ({
      id,
      kind,
      model,
      status,
      createdAt,
    })),
    canceled,
    cancelFailed,
  };
  log.info(
    `reconcile: ${report.scanned} jobs since ${since}, ${report.running} running, ${orphans.length} orphaned, ${apply ? `${canceled.length} canceled` : 'dry run: none canceled'}`,
    { orphans: orphans.map((o) => o.id), canceled },
  );
  return report;
}
