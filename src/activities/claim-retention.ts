/**
 * The claim store's retention (CLAIM_RETENTION): claims are content-addressed and written by any worker at any
 * time, so nothing else ever deletes them. The worker deletes those older than the retention, which is never
 * shorter than the longest run (a run's claims are read by its later steps and by whoever reads its result),
 * and reports the store's size each time. A claim written again (the same output) counts from its newest write.
 */
import type { OutputStore } from './output-files/store';

/** A run may last 168h (the longest ceiling): no claim younger is ever deleted. */
export const MIN_CLAIM_RETENTION_MS = 168 * 3_600_000;
export const DEFAULT_CLAIM_RETENTION_MS = 240 * 3_600_000;
/** How often the worker prunes (and reports). */
export const CLAIM_PRUNE_EVERY_MS = 3_600_000;

const CLAIM_NAME = /^[0-9a-f]{64}\.json$/;

export interface ClaimStoreReport {
  kept: { count: number; bytes: number };
  pruned: { count: number; bytes: number };
}

/** Delete the claims in `folder` of `store` older than `retentionMs`; what stays and what went. */
export async function pruneClaims(
  store: OutputStore,
  options: { retentionMs: number; folder?: string; nowMs?: number },
): Promise<ClaimStoreReport> {
  const { folder = '.claims', nowMs = Date.now() } = options;
  const retentionMs = Math.max(options.retentionMs, MIN_CLAIM_RETENTION_MS);
  const report: ClaimStoreReport = { kept: { count: 0, bytes: 0 }, pruned: { count: 0, bytes: 0 } };
  if (!store.list || !store.remove) throw new Error(`${store.location} cannot list or delete objects`);
  for await (const object of store.list(folder)) {
    if (!CLAIM_NAME.test(object.key.slice(object.key.lastIndexOf('/') + 1))) continue;
    const side = nowMs - object.modifiedMs > retentionMs ? report.pruned : report.kept;
    if (side === report.pruned) await store.remove(object.key);
    side.count++;
    side.bytes += object.bytes;
  }
  return report;
}

/** One log line: `claim store: 2 claims, 230 bytes kept; 1 claim of 1000 bytes older than 240h deleted (...)`. */
export function claimStoreReport(report: ClaimStoreReport, retentionMs: number): string {
  const { kept, pruned } = report;
  const plural = (n: number) => (n === 1 ? 'claim' : 'claims');
  return `claim store: ${kept.count} ${plural(kept.count)}, ${kept.bytes} bytes kept; ${pruned.count} ${plural(pruned.count)} of ${pruned.bytes} bytes older than ${Math.round(retentionMs / 3_600_000)}h deleted (CLAIM_RETENTION)`;
}

/**
 * Prune now and then every CLAIM_PRUNE_EVERY_MS, reporting each pass (a failed pass is one warning; the next one
 * tries again). Returns a stop function.
 */
export function startClaimPruning(
  store: OutputStore,
  retentionMs: number,
  log: { info(line: string): void; warn(line: string): void },
  everyMs = CLAIM_PRUNE_EVERY_MS,
): () => void {
  let running: Promise<void> | undefined;
  const pass = (): void => {
    if (running) return;
    running = pruneClaims(store, { retentionMs })
      .then(
        (report) => log.info(claimStoreReport(report, retentionMs)),
        (error: unknown) =>
          log.warn(`claim store: pruning failed (${(error as Error).message}); retrying in an hour`),
      )
      .finally(() => (running = undefined));
  };
  pass();
  const timer = setInterval(pass, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
