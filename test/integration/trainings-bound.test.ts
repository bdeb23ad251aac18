/**
 * Trainings are bounded without Cancel-After (): Replicate's description documents Cancel-After and
 * `deadline` for predictions only, and the simulator ignores them for trainings. So a training that outlives its
 * run must be stopped by us: by the run's own deadline while a worker is there, and by the reconciler (which finds
 * it without a `deadline`) when its run ended without cleaning up, in lean answers too.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defaultVersionFor } from '../../simulator';
import { PredictionFailureType } from '../../src/shared/failures';
import { RECONCILE_SCHEDULE_ID, ensureReconcilerSchedule } from '../../src/client/temporal-setup';
import { runTraining, statusQuery } from '../../src/workflows';
import { FAST_POLLING, startTestbed, type Testbed } from '../helpers/testbed';

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed();
});
afterAll(async () => {
  await bed?.teardown();
});

const never = () => ({
  model: `sim/never:${defaultVersionFor('sim/never')}`,
  destination: 'acme/tuned',
  input: { run: randomUUID() },
  polling: FAST_POLLING,
});

it("the run's own deadline cancels a training at Replicate (its Cancel-After is not relied on)", async () => {
  const handle = await bed.env.client.workflow.start(runTraining, {
    taskQueue: bed.config.taskQueue,
    workflowId: `training-${randomUUID()}`,
    workflowExecutionTimeout: '12s',
    args: [never()],
  });
  const error = await handle.result().catch((e: unknown) => e);
  expect(error).toBeInstanceOf(WorkflowFailedError);
  expect(JSON.stringify((error as WorkflowFailedError).cause)).toContain(PredictionFailureType.TimedOut);
  const id = (await handle.query(statusQuery)).predictionId!;
  expect(bed.sim.training(id)).not.toHaveProperty('deadline');
  expect(bed.sim.training(id)!.status).toBe('canceled');
  expect(bed.sim.counters(id).cancels).toBe(1);
});

it.each(['full', 'list-and-get'] as const)(
  'answers %s: the reconciler cancels a training whose run ended without cleaning up',
  async (mode) => {
    bed.sim.setLean(mode === 'full' ? undefined : mode);
    const handle = await bed.env.client.workflow.start(runTraining, {
      taskQueue: bed.config.taskQueue,
      workflowId: `training-${randomUUID()}`,
      workflowExecutionTimeout: '5m',
      args: [never()],
    });
    await expect
      .poll(async () => (await handle.query(statusQuery)).predictionId, { timeout: 10_000 })
      .toMatch(/^[a-z0-9]{26}$/);
    const id = (await handle.query(statusQuery)).predictionId!;
    // As when its execution timeout fires with every worker gone: closed, no cleanup ran.
    await handle.terminate('gone without cleaning up');
    expect(['starting', 'processing']).toContain(bed.sim.training(id)!.status); // still running at Replicate

    await ensureReconcilerSchedule(bed.env.client, {
      taskQueue: bed.config.taskQueue,
      everyMs: 60_000,
      graceSeconds: 0,
    });
    await bed.env.client.schedule.getHandle(RECONCILE_SCHEDULE_ID).trigger();
    await expect.poll(() => bed.sim.training(id)!.status, { timeout: 30_000 }).toBe('canceled');
    expect(bed.sim.counters(id).cancels).toBe(1);
    await bed.env.client.schedule.getHandle(RECONCILE_SCHEDULE_ID).delete();
    bed.sim.setLean(undefined);
  },
);
