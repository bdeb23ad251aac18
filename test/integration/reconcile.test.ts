/** The orphan reconciler: reports, then cancels, running predictions that no running workflow owns. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EXIT, RECONCILE_SCHEDULE_ID } from '../../src/client';
import { ReplicatePredictionId } from '../../src/shared/search-attributes';
import type { OrphanReport } from '../../src/workflows/reconcile';
import { SECRET_TOKEN, startTestbed, type Testbed, cliOn } from '../helpers/testbed';

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed();
});
afterAll(async () => {
  await bed?.teardown();
});

/** stdout and stderr together */
const cli = async (...argv: string[]) => {
  const { code, out, err } = await cliOn(bed, ...argv);
  return { code, out: [...out, ...err] };
};

/** A prediction created behind our back, as a lost create or a crashed script would leave it. */
async function createDirectly(input: object, cancelAfter?: string): Promise<string> {
  const response = await fetch(`${bed.sim.baseUrl}/models/sim/never/predictions`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${SECRET_TOKEN}`,
      'Content-Type': 'application/json',
      ...(cancelAfter ? { 'Cancel-After': cancelAfter } : {}),
    },
    body: JSON.stringify({ input }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

it('reports orphans in a dry run, cancels them with --apply, and never touches owned or foreign jobs', async () => {
  const orphan = await createDirectly({ lost: true }, '10m');
  const foreign = await createDirectly({ someone: 'else' }); // no Cancel-After: not ours
  const handle = await bed.start(
    { model: 'sim/never', input: { owned: true } },
    { workflowExecutionTimeout: '5m' },
  );
  await expect
    .poll(async () => (await handle.describe()).typedSearchAttributes.get(ReplicatePredictionId), {
      timeout: 10_000,
    })
    .toMatch(/^[a-z0-9]{26}$/);
  const owned = (await handle.describe()).typedSearchAttributes.get(ReplicatePredictionId)!;

  const dry = await cli('reconcile', '--grace', '0s', '--json');
  expect(dry.code).toBe(EXIT.ok);
  const dryReport = JSON.parse(dry.out[0]!) as OrphanReport;
  expect(dryReport).toMatchObject({ dryRun: true, canceled: [], running: 2, owned: 1 });
  expect(dryReport.orphans.map((o) => o.id)).toEqual([orphan]);
  expect(bed.sim.counters(orphan).cancels).toBe(0);

  const applied = await cli('reconcile', '--grace', '0s', '--apply');
  expect(applied.code).toBe(EXIT.ok);
  expect(applied.out.join('\n')).toContain(`prediction ${orphan}  sim/never  processing`);
  expect(applied.out.join('\n')).toContain('-> canceled');
  expect(bed.sim.prediction(orphan)!.status).toBe('canceled');
  expect(bed.sim.counters(owned).cancels).toBe(0);
  expect(bed.sim.counters(foreign).cancels).toBe(0);
  expect(bed.sim.prediction(owned)!.status).toBe('processing');

  // The grace period protects young jobs whose workflow may not have recorded them yet.
  const young = await createDirectly({ young: true }, '10m');
  const graceful = JSON.parse((await cli('reconcile', '--apply', '--json')).out[0]!) as OrphanReport;
  expect(graceful.orphans.map((o) => o.id)).not.toContain(young);
  expect(bed.sim.counters(young).cancels).toBe(0);

  await handle.cancel();
});

it('--schedule creates (then updates) a Temporal Schedule, --unschedule deletes it', async () => {
  expect((await cli('reconcile', '--schedule', '10m')).code).toBe(EXIT.ok);
  expect((await cli('reconcile', '--schedule', '15m', '--apply')).code).toBe(EXIT.ok);
  const description = await bed.env.client.schedule.getHandle(RECONCILE_SCHEDULE_ID).describe();
  expect(description.spec.intervals).toMatchObject([{ every: 15 * 60_000 }]);
  expect(description.action).toMatchObject({
    workflowType: 'reconcileOrphans',
    taskQueue: bed.config.taskQueue,
    args: [{ apply: true, lookbackMinutes: 60, graceSeconds: 120 }],
  });
  expect((await cli('reconcile', '--unschedule')).code).toBe(EXIT.ok);
  await expect(bed.env.client.schedule.getHandle(RECONCILE_SCHEDULE_ID).describe()).rejects.toThrow();
  const tooOften = await cli('reconcile', '--schedule', '10s');
  expect(tooOften.code).toBe(EXIT.usage);
});
