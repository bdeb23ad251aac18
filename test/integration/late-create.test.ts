/**
 * Issue 9, A.2: Replicate receives our first create but commits and answers it after our attempt timeout. The
 * prediction's deadline then lies after our Cancel-After target by the request's delay, and the retry must adopt
 * it instead of creating a second paid prediction. Also with lean answers (issue 14: no `deadline` or `webhook` in
 * list and get answers): the retry adopts on model, input and window, the reconciler cancels the late copy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PredictionResult } from '../../src/shared/types';
import { RECONCILE_SCHEDULE_ID, ensureReconcilerSchedule } from '../../src/client/temporal-setup';
import { statusQuery } from '../../src/workflows';
import { FAST_POLLING, startTestbed, type Testbed } from '../helpers/testbed';

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed();
});
afterAll(async () => {
  await bed?.teardown();
});

const RUNS = 6;
/** the create attempt's HTTP timeout in this test (production: 30 s) */
const CREATE_TIMEOUT_MS = 7_000;
/** Replicate commits (and answers) each first create this late: after our timeout, deadline ~7 s late */
const COMMIT_DELAY_MS = 7_300;

const creates = () => bed.sim.requests.filter((r) => r.route.endsWith('predictions.create'));

describe.each(['full', 'list-and-get'] as const)('answers: %s', (mode) => {
  it(`${RUNS} runs whose first create is committed after the attempt timeout make ${RUNS} predictions, not ${2 * RUNS}`, async () => {
    bed.sim.reset();
    bed.sim.setLean(mode === 'full' ? undefined : mode);
    await bed.withWorker({ httpTimeouts: { createMs: CREATE_TIMEOUT_MS } }, async (taskQueue) => {
      bed.sim.setFaults({ createCommitDelayMs: COMMIT_DELAY_MS });
      const handles = await Promise.all(
        Array.from({ length: RUNS }, (_, i) =>
          bed.start(
            { model: 'sim/echo', input: { run: i, mode }, polling: FAST_POLLING },
            { taskQueue, workflowExecutionTimeout: '2m' },
          ),
        ),
      );
      // Every first attempt is on the wire (and will be committed late): later requests are answered promptly,
      // after a little latency so that each retry's listing runs after the late commit it must find.
      await expect.poll(() => creates().length, { timeout: 20_000 }).toBe(RUNS);
      bed.sim.setFaults({ latencyMs: 1_000 });
      const results: PredictionResult[] = await Promise.all(handles.map((h) => h.result()));

      const ids = bed.sim.predictionIds();
      expect(ids).toHaveLength(RUNS); // before the fix: 12 predictions for 6 runs, 6 of them orphans
      expect(results.map((r) => r.adopted)).toEqual(Array(RUNS).fill(true));
      expect(new Set(results.map((r) => r.id))).toEqual(new Set(ids));
      expect(results.map((r) => r.output)).toEqual(
        Array.from({ length: RUNS }, (_, i) => ({ run: i, mode })),
      );
      // the late commits really were late: their deadline is after the Cancel-After target by > 5 s
      for (const [i, h] of handles.entries()) {
        const described = await h.describe();
        const target = described.startTime.getTime() + 120_000;
        const lateBy = Date.parse(bed.sim.prediction(results[i]!.id)!.deadline!) - target;
        expect(lateBy).toBeGreaterThan(5_000);
        expect(lateBy).toBeLessThan(CREATE_TIMEOUT_MS + 5_000);
      }
      expect(ids.every((id) => bed.sim.prediction(id)!.status === 'succeeded')).toBe(true);
    });
  });

  it('a late copy that appears after the retry created anew is canceled by the reconciler Schedule, the run is not', async () => {
    bed.sim.reset();
    bed.sim.setLean(mode === 'full' ? undefined : mode);
    bed.sim.setModel('sim/slow', { startDelayMs: 100, durationMs: 120_000, output: '$input' });
    await bed.withWorker({ httpTimeouts: { createMs: 3_000 } }, async (taskQueue) => {
      // The first create is committed 6 s after it was sent: after the retry (at ~4 s) listed and created anew.
      bed.sim.setFaults({ createCommitDelayMs: 6_000 });
      const handle = await bed.start(
        { model: 'sim/slow', input: { late: true, mode }, polling: FAST_POLLING },
        { taskQueue, workflowExecutionTimeout: '5m' },
      );
      await expect.poll(() => creates().length, { timeout: 10_000 }).toBe(1);
      bed.sim.setFaults({});
      await expect.poll(() => bed.sim.predictionIds().length, { timeout: 15_000 }).toBe(2);
      const own = (await handle.query(statusQuery)).predictionId!;
      const [extra] = bed.sim.predictionIds().filter((id) => id !== own);
      expect(bed.sim.prediction(extra!)!.status).not.toBe('canceled');

      // What every worker sets up at start (RECONCILE_EVERY), with no grace so the test need not wait 2 minutes.
      await ensureReconcilerSchedule(bed.env.client, { taskQueue, everyMs: 60_000, graceSeconds: 0 });
      await bed.env.client.schedule.getHandle(RECONCILE_SCHEDULE_ID).trigger();
      await expect.poll(() => bed.sim.prediction(extra!)!.status, { timeout: 30_000 }).toBe('canceled');
      expect(bed.sim.counters(own).cancels).toBe(0);
      expect((await handle.query(statusQuery)).status).not.toBe('canceled');
      await bed.env.client.schedule.getHandle(RECONCILE_SCHEDULE_ID).delete();
      await handle.cancel();
    });
  });
});
