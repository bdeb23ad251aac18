/**
 * Issue 9, A.2: Replicate receives our first create but commits and answers it after our attempt timeout. The
 * prediction's deadline then lies after our Cancel-After target by the request's delay, and the retry must adopt
 * it instead of creating a second paid prediction.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { PredictionResult } from '../../src/shared/types';
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

it(`${RUNS} runs whose first create is committed after the attempt timeout make ${RUNS} predictions, not ${2 * RUNS}`, async () => {
  await bed.withWorker({ httpTimeouts: { createMs: CREATE_TIMEOUT_MS } }, async (taskQueue) => {
    bed.sim.setFaults({ createCommitDelayMs: COMMIT_DELAY_MS });
    const handles = await Promise.all(
      Array.from({ length: RUNS }, (_, i) =>
        bed.start(
          { model: 'sim/echo', input: { run: i }, polling: FAST_POLLING },
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
    expect(results.map((r) => r.output)).toEqual(Array.from({ length: RUNS }, (_, i) => ({ run: i })));
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
