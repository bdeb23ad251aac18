/**
 * What a job run remembers beyond its job and progress, and how continue-as-new hands it on: `resumeOf` builds the
 * next run's `resume` (src/shared/types.ts, ResumeState: every field required, so nothing is forgotten silently),
 * `restoreRun` reads it back. Pure; round-trip tested over every field (test/unit/resume.test.ts).
 */
import type { PredictiveMemory } from '../../shared/predictive-polling';
import type { PredictionSnapshot, ResumeState } from '../../shared/types';

export interface RunMemory {
  adopted: boolean;
  webhook: boolean;
  nextPollAtLeastMs: number;
  pollNow: boolean;
  pollError: string | null;
  startReported: boolean;
  readsTaskQueue: string | null;
  localReads: boolean;
  predictive: PredictiveMemory;
}

/** What the run's progress adds: the job, the polls so far, the chain's start and length, the slot it holds. */
export interface RunProgress {
  job: PredictionSnapshot;
  polls: number;
  startedAt: string;
  runs: number;
  news: PredictionSnapshot | null;
  slot: { key: string; limit: number | null; ownLimit?: number } | null;
}

export function freshRun(): RunMemory {
  return {
    adopted: false,
    webhook: false,
    nextPollAtLeastMs: 0,
    pollNow: false,
    pollError: null,
    startReported: false,
    readsTaskQueue: null,
    localReads: false,
    predictive: { timing: null, progress: [], pastEndPolls: 0, burstPolls: 0, replicateAheadMs: 0 },
  };
}

export function resumeOf(progress: RunProgress, memory: RunMemory): ResumeState {
  return { ...progress, ...memory };
}

/** The memory a continued run starts with (a fresh one without `resume`). */
export function restoreRun(resume: ResumeState | undefined): RunMemory {
  if (resume === undefined) return freshRun();
  const {
    adopted,
    webhook,
    nextPollAtLeastMs,
    pollNow,
    pollError,
    startReported,
    readsTaskQueue,
    localReads,
    predictive,
  } = resume;
  return {
    adopted,
    webhook,
    nextPollAtLeastMs,
    pollNow,
    pollError,
    startReported,
    readsTaskQueue,
    localReads,
    predictive,
  };
}
