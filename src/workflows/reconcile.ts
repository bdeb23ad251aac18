/**
 * `reconcileOrphans`: cancel (with `apply`) the jobs this system created that still run and that no open run owns
 * or may adopt. Every worker keeps it on a Schedule (RECONCILE_EVERY); the rule: docs/architecture.md,
 * "The orphan reconciler".
 */
import { log, metricMeter, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ReconcileActivities } from '../activities/reconcile';
import { countOrphansCanceled } from '../observability/metrics';
import { classifyJobsOptions, reconcileReplicateOptions } from './retry-policies';
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
  /** running jobs older than the grace period (with or without a `deadline`): the ones examined */
  running: number;
  /** of those: owned by an open run */
  owned: number;
  /** of those: matching an open run still creating (it may adopt one), or whose state could not be read */
  waiting: number;
  /** of those: not created by this system (scripts, the web UI): never touched */
  foreign: number;
  orphans: { id: string; kind: JobKind; model: string | null; status: string; createdAt: string }[];
  canceled: string[];
  cancelFailed: string[];
}

const { listRecentJobs, cancelPrediction } = proxyActivities<Activities>(reconcileReplicateOptions);
const { classifyJobs } = proxyActivities<ReconcileActivities>(classifyJobsOptions);

export async function reconcileOrphans(options: ReconcileOptions = {}): Promise<OrphanReport> {
  const apply = options.apply === true;
  const now = Date.now();
  const since = new Date(now - (options.lookbackMinutes ?? 60) * 60_000).toISOString();
  const graceMs = (options.graceSeconds ?? 120) * 1000;

  const jobs = [...(await listRecentJobs(since, 'prediction')), ...(await listRecentJobs(since, 'training'))];
  // Every running job is examined, whether or not the listing echoes its `deadline` (the description does not
  // promise it there); ownership never rests on it.
  const running = jobs.filter((j) => !isTerminal(j.status) && Date.parse(j.createdAt) <= now - graceMs);
  const classes =
    running.length > 0 ? await classifyJobs(running) : { owned: [], orphans: [], waiting: [], foreign: [] };
  const orphanIds = new Set(classes.orphans);
  const orphans = running.filter((j) => orphanIds.has(j.id));

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
    countOrphansCanceled(metricMeter, canceled.length);
  }
  const report: OrphanReport = {
    dryRun: !apply,
    scanned: jobs.length,
    running: running.length,
    owned: classes.owned.length,
    waiting: classes.waiting.length,
    foreign: classes.foreign.length,
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
    `reconcile: ${report.scanned} jobs since ${since}, ${report.running} running (${report.owned} owned, ${report.waiting} waiting, ${report.foreign} not ours), ${orphans.length} orphaned, ${apply ? `${canceled.length} canceled` : 'dry run: none canceled'}`,
    { orphans: orphans.map((o) => o.id), canceled },
  );
  return report;
}
