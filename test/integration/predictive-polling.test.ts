/**
 * Predictive polling end to end (src/shared/predictive-polling.ts): a real worker learns a model's timing from the
 * jobs it sees end, the create hands it to the next run, which polls just after the job's end; a model it does not
 * know is foreseen from the progress in its logs. Real time on a dev server with the simulator; the two tests, on
 * models of their own, run at once: about 50 s.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PredictionSnapshot } from '../../src/shared/types';
import { startTestbed, type Testbed } from '../helpers/testbed';

const STEPS = 50;
let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed({
    seed: 23,
    models: {
      // 0.5 s to start, 20 s ±2 % of running
      'sim/twenty': { startDelayMs: 500, durationMs: 20_000, durationJitter: 0.02, output: 'done' },
      // 40 s of running counted in 50 steps
      'sim/steps': {
        startDelayMs: 500,
        durationMs: 40_000,
        output: 'done',
        logs: Array.from({ length: STEPS }, (_, k) => `step ${k}/${STEPS}`),
      },
    },
  });
});
afterAll(async () => {
  await bed?.teardown();
});

/** Run `model` to its end: the result, the GETs it made, the create's answer, and how late the run noticed the end. */
async function runToEnd(model: string) {
  const handle = await bed.start({ model, input: {} }, { workflowExecutionTimeout: '3m' });
  const result = await handle.result();
  const closed = (await handle.describe()).closeTime!.getTime();
  const atReplicate = bed.sim.prediction(result.id)!;
  const completed = Date.parse(atReplicate.completed_at!);
  return {
    result,
    gets: bed.sim.counters(result.id).gets,
    created: await createAnswer(handle.workflowId),
    lagMs: closed - completed,
    durationMs: completed - Date.parse(atReplicate.created_at),
  };
}

/** What the run's createPrediction activity answered, from its history. */
async function createAnswer(workflowId: string): Promise<PredictionSnapshot> {
  const history = await bed.client.workflow.getHandle(workflowId).fetchHistory();
  const types = new Map<string, string>();
  for (const e of history.events ?? []) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) types.set(String(e.eventId), scheduled.activityType?.name ?? '');
    const done = e.activityTaskCompletedEventAttributes;
    if (done && types.get(String(done.scheduledEventId)) === 'createPrediction')
      return JSON.parse(Buffer.from(done.result!.payloads![0]!.data!).toString()) as PredictionSnapshot;
  }
  throw new Error(`no create answer in ${workflowId}'s history`);
}

describe.concurrent('predictive polling', () => {
  it('after three runs of a model, the next one is polled just after its end', async () => {
    const warmUp = await Promise.all([1, 2, 3].map(() => runToEnd('sim/twenty')));
    // knowing nothing yet, they polled on the backoff: 3, 7.5, 14.25, 24.4 s: the end noticed about 4 s late
    for (const w of warmUp) {
      expect(w.gets).toBe(4);
      expect(w.lagMs).toBeGreaterThan(2_500);
    }
    const warm = await runToEnd('sim/twenty');
    expect(warm.result.status).toBe('succeeded');
    expect(warm.gets).toBeLessThanOrEqual(2);
    expect(warm.lagMs).toBeLessThan(1_500);
    expect(warm.lagMs / warm.durationMs).toBeLessThan(0.075);
    // the create's answer carried the timing the worker had learnt from the three (none before)
    expect(warmUp.map((w) => w.created.timing)).toEqual([undefined, undefined, undefined]);
    const timing = warm.created.timing;
    expect(timing?.samples).toBe(3);
    expect(timing?.runMs.mid).toBeGreaterThan(19_000);
    expect(timing?.runMs.mid).toBeLessThan(21_000);
  }, 150_000);

  it('a model it does not know: the progress in the logs foretells the end', async () => {
    const run = await runToEnd('sim/steps');
    // the backoff alone would poll at 39.6 s (before the end at 40.5 s) and next at 62.4 s
    expect(run.lagMs).toBeLessThan(2_000);
    expect(run.gets).toBeLessThanOrEqual(5);
  }, 120_000);
});
