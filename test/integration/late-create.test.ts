/**
 * Replicate receives a create but commits it after our attempt gave up. (1) When the commit comes before the next
 * attempt's search, the run adopts it (claims it) instead of paying for a second one. (2) When it comes after the
 * retry created anew, the run's late-commit watch claims and cancels it within 60 s of its commit, and never touches
 * the run's own. Also with lean answers (no `deadline` or `webhook` in list and get answers): the two kinds of
 * answers each have their own dev server and simulator and run at once (each about a minute, mostly waiting).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PredictionResult } from '../../src/shared/types';
import { FAST_POLLING, startTestbed, type Testbed } from '../helpers/testbed';

const RUNS = 6;
/** runs in the late-commit watch test */
const LATE_RUNS = 4;
/** the create attempt's HTTP timeout in this test (production: 30 s) */
const CREATE_TIMEOUT_MS = 7_000;
/** Replicate commits (and answers) each first create this late: after our timeout, deadline ~7 s late */
const COMMIT_DELAY_MS = 7_300;

describe.concurrent.each(['full', 'list-and-get'] as const)('answers: %s', (mode) => {
  let bed: Testbed;
  beforeAll(async () => {
    bed = await startTestbed();
  });
  afterAll(async () => {
    await bed?.teardown();
  });
  const creates = () => bed.sim.requests.filter((r) => r.route.endsWith('predictions.create'));

  // one after the other on this testbed: each resets its simulator
  it.sequential(
    `${RUNS} runs whose first create is committed after the attempt timeout make ${RUNS} predictions, not ${2 * RUNS}`,
    async () => {
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
    },
  );

  it.sequential(
    `${LATE_RUNS} runs whose first create Replicate commits after the retry created anew: each late copy is canceled within 60 s of its commit, never the runs' own`,
    async () => {
      bed.sim.reset();
      bed.sim.setLean(mode === 'full' ? undefined : mode);
      // a 40 s job: long enough that an uncanceled copy would visibly run to its end and be billed in full
      bed.sim.setModel('sim/slow', { startDelayMs: 100, durationMs: 40_000, output: '$input' });
      await bed.withWorker({ httpTimeouts: { createMs: 3_000 } }, async (taskQueue) => {
        // Each run's first create is committed 8 s after it arrived: its attempt has given up (3 s), the retry has
        // searched (nothing yet) and created anew; only then does the first create commit.
        bed.sim.setFaults({ createCommitDelayMs: 8_000, lateCommitNext: LATE_RUNS });
        const handles = await Promise.all(
          Array.from({ length: LATE_RUNS }, (_, i) =>
            bed.start(
              { model: 'sim/slow', input: { late: i, mode }, polling: FAST_POLLING },
              { taskQueue, workflowExecutionTimeout: '5m' },
            ),
          ),
        );
        const results = await Promise.all(handles.map((h) => h.result()));
        const own = new Set(results.map((r) => r.id));
        expect(own.size).toBe(LATE_RUNS);
        // before: 2 × LATE_RUNS predictions ran to completion (each late copy billed in full beside the run's own)
        const log = bed.sim.createLog().filter((c) => c.predictionId !== undefined);
        expect(log).toHaveLength(2 * LATE_RUNS);
        const late = log.filter((c) => !own.has(c.predictionId!));
        expect(late).toHaveLength(LATE_RUNS);
        for (const copy of late) {
          expect(copy.committedAt! - copy.arrivedAt).toBeGreaterThanOrEqual(8_000);
          expect(copy.canceledAt, copy.predictionId).toBeDefined();
          expect(copy.canceledAt! - copy.committedAt!).toBeLessThanOrEqual(60_000);
        }
        for (const id of own) expect(bed.sim.counters(id).cancels).toBe(0);
        // the runs did not wait for their watch: each ended with its own job
        expect(results.every((r) => r.status === 'succeeded')).toBe(true);
      });
    },
    180_000,
  );
});
