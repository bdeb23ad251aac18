/** Continue-as-new hands a run on whole: every field of ResumeState survives the round trip. */
import { describe, expect, it } from 'vitest';
import type { ResumeState } from '../../src/shared/types';
import {
  freshRun,
  restoreRun,
  resumeOf,
  type RunMemory,
  type RunProgress,
} from '../../src/workflows/job/resume';

const job = (id: string) => ({
  id,
  model: 'acme/model',
  version: null,
  status: 'processing' as const,
  output: null,
  error: null,
  logsTail: ['12%|'],
  metrics: {},
  createdAt: '2026-12-06T10:00:00.000Z',
  startedAt: '2026-12-06T10:00:01.000Z',
  completedAt: null,
  deadline: null,
  urls: {},
});

/** Every field set to something other than its fresh value. */
const memory: Required<RunMemory> = {
  adopted: true,
  webhook: true,
  nextPollAtLeastMs: 40_000,
  pollNow: true,
  pollError: 'Replicate get prediction was rate limited (429)',
  startReported: true,
  readsTaskQueue: 'q-replicate-reads',
  localReads: true,
  predictive: {
    timing: {
      samples: 5,
      runMs: { lo: 19_000, mid: 19_500, hi: 20_000 },
      queueMs: { lo: 900, mid: 1_000, hi: 1_400 },
    },
    progress: [
      { fraction: 0.1, steps: 50, atMs: 1_000 },
      { fraction: 0.4, steps: 50, atMs: 7_000 },
    ],
    pastEndPolls: 4,
    burstPolls: 3,
  },
};
const progress: Required<RunProgress> = {
  job: job('p-1'),
  polls: 7,
  startedAt: '2026-12-06T10:00:00.000Z',
  runs: 2,
  news: { ...job('p-1'), status: 'succeeded' as const },
  slot: { key: 'acme/model', limit: 2, ownLimit: 1 },
};

describe('continue-as-new', () => {
  it('restores every field of the memory it handed on, through the JSON Temporal stores', () => {
    const resume: ResumeState = JSON.parse(JSON.stringify(resumeOf(progress, memory))) as ResumeState;
    expect(restoreRun(resume)).toEqual(memory);
    expect(resume).toMatchObject(progress);
  });

  it('carries every key of the memory, and the memory differs from a fresh run in each of them', () => {
    const fresh = freshRun();
    const keys = Object.keys(fresh).sort();
    expect(Object.keys(memory).sort()).toEqual(keys);
    for (const key of keys)
      expect(memory[key as keyof RunMemory], key).not.toEqual(fresh[key as keyof RunMemory]);
    expect(restoreRun(undefined)).toEqual(fresh);
  });
});
