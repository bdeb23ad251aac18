/**
 * What this worker has seen of each model's recent completions, so that a create can tell its run how long the model's
 * jobs usually wait and run (src/shared/timing.ts; the run plans its polls with it, src/shared/predictive-polling.ts).
 * Every succeeded job an activity sees (a poll's, a cancel's answer) adds a sample under its deployment, its version
 * and its model; a create's answer carries the summary of the most specific of them with enough samples.
 *
 * Kept in the worker's memory, bounded: the latest SAMPLES_PER_KEY samples of the MAX_KEYS keys used last. A fresh
 * worker knows nothing (its runs poll on the plain backoff until a few jobs of the model have ended); each worker of a
 * fleet learns from the jobs it sees. Sharing the samples across the fleet (a stats workflow fed by every completion)
 * would cost server work on every completion, which is what the fleet is trying to save.
 */
import type { JobKind, Prediction } from '../shared/types';
import { summarizeTiming, timingOf, type ModelTiming, type TimingSample } from '../shared/timing';

export const SAMPLES_PER_KEY = 32;
export const MAX_KEYS = 1_000;

interface Entry {
  samples: Array<TimingSample & { id: string }>;
}

/** The keys a job's timing counts under, most specific first: its deployment, its version, its model. */
export function timingKeys(
  kind: JobKind,
  job: Pick<Prediction, 'model' | 'version' | 'deployment'>,
): string[] {
  const keys: string[] = [];
  if (typeof job.deployment === 'string' && job.deployment !== '')
    keys.push(`${kind}:deployment:${job.deployment}`);
  if (typeof job.model === 'string' && job.model !== '') {
    if (typeof job.version === 'string' && job.version !== '' && job.version !== 'hidden')
      keys.push(`${kind}:${job.model}:${job.version}`);
    keys.push(`${kind}:${job.model}`);
  } else if (typeof job.version === 'string' && job.version !== '') {
    keys.push(`${kind}:version:${job.version}`);
  }
  return keys;
}

export class TimingBook {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxKeys = MAX_KEYS,
    private readonly perKey = SAMPLES_PER_KEY,
  ) {}

  /** Take in a job as an activity saw it; only a succeeded one with all its timestamps counts, each job once. */
  record(kind: JobKind, job: Prediction): void {
    const sample = timingOf({
      status: job.status,
      createdAt: job.created_at ?? null,
      startedAt: job.started_at ?? null,
      completedAt: job.completed_at ?? null,
    });
    if (sample === undefined) return;
    for (const key of timingKeys(kind, job)) {
      const entry = this.entries.get(key) ?? { samples: [] };
      if (entry.samples.some((s) => s.id === job.id)) continue;
      entry.samples.push({ ...sample, id: job.id });
      if (entry.samples.length > this.perKey) entry.samples.shift();
      this.entries.delete(key); // most recently used last
      this.entries.set(key, entry);
      if (this.entries.size > this.maxKeys) this.entries.delete(this.entries.keys().next().value!);
    }
  }

  /** The timing of the most specific key with enough samples, or undefined. */
  timingFor(
    kind: JobKind,
    job: Pick<Prediction, 'model' | 'version' | 'deployment'>,
  ): ModelTiming | undefined {
    for (const key of timingKeys(kind, job)) {
      const summary = summarizeTiming(this.entries.get(key)?.samples ?? []);
      if (summary) return summary;
    }
    return undefined;
  }

  /** How many keys are kept (tests, the bound). */
  get size(): number {
    return this.entries.size;
  }
}
