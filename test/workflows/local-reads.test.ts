/**
 * Polls under the fleet's reads budget (src/worker/read-share.ts): a run whose create named the reads queue and
 * local reads polls with a local activity within the worker's share, waits on a timer when the share says so, and
 * polls on the rate-limited reads queue when the worker cannot tell its share; without local reads, on the queue
 * only. Time-skipping server, fake activities; the history says which way each poll went.
 */
import { randomUUID } from 'node:crypto';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import type { PredictionSnapshot } from '../../src/shared/types';
import { runPrediction } from '../../src/workflows';
import { fakeReplicate, job } from './fakes';
import { timeSkippingPerTest } from './env';

const t = timeSkippingPerTest();

type Grant = 'now' | 'queue' | { waitMs: number; reserved: boolean };

/**
 * Run one prediction whose job ends at its third poll; `share(n, reserved)` answers poll n's local try. The tries
 * and GETs each way, from the fakes, and the history's waits for the share.
 */
async function run(created: Partial<PredictionSnapshot>, share: (n: number, reserved: boolean) => Grant) {
  const taskQueue = `wf-${randomUUID()}`;
  const readsQueue = `${taskQueue}-replicate-reads`;
  let polls = 0;
  const answer = (id: string) => job(id, ++polls < 3 ? 'processing' : 'succeeded');
  const fake = fakeReplicate({
    created: { ...job('p-reads', 'starting'), ...created, readsTaskQueue: readsQueue },
  });
  const local: string[] = [];
  const queued: number[] = [];
  const worker = await Worker.create({
    connection: t.env.nativeConnection,
    taskQueue,
    workflowBundle: t.workflowBundle,
    activities: {
      ...fake.activities,
      async tryGetPrediction(id: string, _kind: string, reserved: boolean) {
        local.push(`${polls + 1}${reserved ? ' reserved' : ''}`);
        const grant = share(polls + 1, reserved);
        return grant === 'now' ? answer(id) : grant === 'queue' ? null : grant;
      },
    },
  });
  const reads = await Worker.create({
    connection: t.env.nativeConnection,
    taskQueue: readsQueue,
    activities: {
      async getPrediction(id: string) {
        queued.push(polls + 1);
        return answer(id);
      },
    },
  });
  const handle = await reads.runUntil(
    worker.runUntil(async () => {
      const h = await t.env.client.workflow.start(runPrediction, {
        taskQueue,
        workflowId: `wf-${randomUUID()}`,
        workflowExecutionTimeout: '10m',
        args: [{ model: 'acme/model', input: {}, searchAttributes: false }],
      });
      await h.result();
      return h;
    }),
  );
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = events
    .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'getPrediction')
    .map((e) => e.activityTaskScheduledEventAttributes!.taskQueue!.name);
  const markers = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
  const waits = events.flatMap((e) => {
    const timer = e.timerStartedEventAttributes?.startToFireTimeout;
    const ms = timer ? Number(timer.seconds ?? 0) * 1_000 + Math.round((timer.nanos ?? 0) / 1e6) : NaN;
    return ms < 500_000 ? [ms] : [];
  });
  return { local, queued, scheduled, markers: markers.length, waits };
}

describe('polls under the fleet reads budget', () => {
  it('polls locally within the share; a spent share makes the poll wait on a timer, then read as reserved', async () => {
    const r = await run({ localReads: true }, (n, reserved) =>
      n === 2 && !reserved ? { waitMs: 7_000, reserved: true } : 'now',
    );
    expect(r.local).toEqual(['1', '2', '2 reserved', '3']);
    expect(r.queued).toEqual([]);
    expect(r.scheduled).toEqual([]);
    expect(r.markers).toBe(4);
    // the backoff's 3 s, 4.5 s and 6.75 s, with poll 2's 7 s wait for the share before its read
    expect(r.waits).toEqual([3_000, 4_500, 7_000, 6_750]);
  });

  it('a wait without a reservation asks again; a worker that cannot tell its share polls on the reads queue', async () => {
    let asked = 0;
    const r = await run({ localReads: true }, (n) => {
      if (n !== 2) return 'now';
      return ++asked === 1 ? { waitMs: 30_000, reserved: false } : 'queue';
    });
    expect(r.local).toEqual(['1', '2', '2', '3']);
    expect(r.queued).toEqual([2]);
    expect(r.scheduled).toEqual([expect.stringMatching(/-replicate-reads$/)]);
    expect(r.waits).toEqual([3_000, 4_500, 30_000, 6_750]);
  });

  it('without local reads (REPLICATE_READ_LOCAL_SHARE=0), every poll goes through the reads queue', async () => {
    const r = await run({}, () => 'now');
    expect(r.local).toEqual([]);
    expect(r.queued).toEqual([1, 2, 3]);
    expect(r.markers).toBe(0);
  });
});
