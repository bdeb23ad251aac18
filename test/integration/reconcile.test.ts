/**
 * The orphan reconciler: reports, then cancels, running predictions that this system created and that no open run
 * owns (never a live run's, whatever its search attributes; never a foreign job).
 */
import { createServer, type Socket, type AddressInfo } from 'node:net';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EXIT, RECONCILE_SCHEDULE_ID } from '../../src/cli';
import { ReplicatePredictionId } from '../../src/shared/search-attributes';
import {
  RECONCILE_SCHEDULE_ID as SCHEDULE_ID_SETUP,
  ensureReconcilerSchedule,
} from '../../src/client/temporal-setup';
import { statusQuery } from '../../src/workflows';
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

/** A Replicate that accepts connections and never answers: a run whose create hangs stays 'creating'. */
async function blackHole(): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Cancel-After that aims at a run's ceiling, as the run's own create sends it. */
async function aimedAt(handle: WorkflowHandle, timeoutMs: number): Promise<string> {
  const { startTime } = await handle.describe();
  return `${Math.floor((startTime.getTime() + timeoutMs - Date.now()) / 1000)}s`;
}

const currentId = async (handle: WorkflowHandle) => (await handle.query(statusQuery)).predictionId;

// Also with lean answers (): listings without `deadline`/`webhook`, and listings and GETs without them.
it.each(['full', 'list', 'list-and-get'] as const)(
  'answers %s: cancels only what this system created and no open run owns: never a live run, a creating run, or a foreign job',
  async (mode) => {
    bed.sim.reset();
    bed.sim.setLean(mode === 'full' ? undefined : mode);
    // A live run without search attributes (as with searchAttributes: false, or recorded before that patch).
    const noAttributes = await bed.start(
      { model: 'sim/never', input: { case: 'no-attributes', mode }, searchAttributes: false },
      { workflowExecutionTimeout: '5m' },
    );
    // A live run with them, and a copy of its create that it never learned of (a lost create): the orphan.
    const withAttributes = await bed.start(
      { model: 'sim/never', input: { case: 'attributes', mode } },
      { workflowExecutionTimeout: '5m' },
    );
    await expect.poll(() => currentId(noAttributes), { timeout: 10_000 }).toMatch(/^[a-z0-9]{26}$/);
    await expect
      .poll(async () => (await withAttributes.describe()).typedSearchAttributes.get(ReplicatePredictionId), {
        timeout: 10_000,
      })
      .toMatch(/^[a-z0-9]{26}$/);
    const liveWithout = (await currentId(noAttributes))!;
    const liveWith = (await currentId(withAttributes))!;
    const orphan = await createDirectly(
      { case: 'attributes', mode },
      await aimedAt(withAttributes, 5 * 60_000),
    );
    // Jobs of others sharing the account: with a Cancel-After (another script) and without (the web UI).
    const foreign = await createDirectly({ someone: 'else' }, '10m');
    const foreignNoDeadline = await createDirectly({ someone: 'else' });

    const hole = await blackHole();
    try {
      await bed.withWorker({ replicateBaseUrl: hole.baseUrl }, async (taskQueue) => {
        // A run whose create is still on the wire, and the prediction that create will turn out to have made.
        const creating = await bed.start(
          { model: 'sim/never', input: { case: 'creating', mode } },
          { taskQueue, workflowExecutionTimeout: '5m' },
        );
        await expect.poll(async () => (await creating.query(statusQuery)).status).toBe('creating');
        const pending = await createDirectly({ case: 'creating', mode }, await aimedAt(creating, 5 * 60_000));

        const dry = await cli('reconcile', '--grace', '0s', '--json');
        expect(dry.code).toBe(EXIT.ok);
        const dryReport = JSON.parse(dry.out[0]!) as OrphanReport;
        // Every running job is examined, with or without a deadline (before: 5, the web UI's job left out).
        expect(dryReport).toMatchObject({
          dryRun: true,
          canceled: [],
          running: 6,
          owned: 2,
          waiting: 1,
          foreign: 2,
        });
        expect(dryReport.orphans.map((o) => o.id)).toEqual([orphan]);
        expect(bed.sim.counters(orphan).cancels).toBe(0);

        const applied = await cli('reconcile', '--grace', '0s', '--apply');
        expect(applied.code).toBe(EXIT.ok);
        expect(applied.out.join('\n')).toMatch(
          new RegExp(`prediction ${orphan}  sim/never  \\w+  .*-> canceled`),
        );
        // Before the fix: 4 canceled (the orphan, the live run without attributes, the creating run's, the foreign).
        expect(bed.sim.prediction(orphan)!.status).toBe('canceled');
        for (const untouched of [liveWithout, liveWith, pending, foreign, foreignNoDeadline]) {
          expect(bed.sim.counters(untouched).cancels, untouched).toBe(0);
          expect(bed.sim.prediction(untouched)!.status, untouched).not.toBe('canceled');
        }
        await creating.terminate();
      });
    } finally {
      await hole.close();
    }

    // The grace period protects young jobs whose workflow may not have recorded them yet.
    const young = await createDirectly(
      { case: 'attributes', mode },
      await aimedAt(withAttributes, 5 * 60_000),
    );
    const graceful = JSON.parse((await cli('reconcile', '--apply', '--json')).out[0]!) as OrphanReport;
    expect(graceful.orphans.map((o) => o.id)).not.toContain(young);
    expect(bed.sim.counters(young).cancels).toBe(0);

    await Promise.all([noAttributes.cancel(), withAttributes.cancel()]);
  },
);

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

it('every worker keeps the reconciler on a Schedule in apply mode (idempotent; follows RECONCILE_EVERY)', async () => {
  expect(SCHEDULE_ID_SETUP).toBe(RECONCILE_SCHEDULE_ID); // the CLI's --schedule manages the same one
  const client = bed.env.client;
  const options = { taskQueue: bed.config.taskQueue, everyMs: 5 * 60_000 };
  expect(await ensureReconcilerSchedule(client, options)).toBe('created');
  expect(await ensureReconcilerSchedule(client, options)).toBe('unchanged'); // a second worker, a restart
  const described = await client.schedule.getHandle(RECONCILE_SCHEDULE_ID).describe();
  expect(described.spec.intervals).toMatchObject([{ every: 5 * 60_000 }]);
  expect(described.action).toMatchObject({
    workflowType: 'reconcileOrphans',
    taskQueue: bed.config.taskQueue,
    args: [{ apply: true, lookbackMinutes: 60, graceSeconds: 120 }],
  });
  expect(described.policies.overlap).toBe('SKIP');
  expect(await ensureReconcilerSchedule(client, { ...options, everyMs: 3 * 60_000 })).toBe('updated');
  const updated = await client.schedule.getHandle(RECONCILE_SCHEDULE_ID).describe();
  expect(updated.spec.intervals).toMatchObject([{ every: 3 * 60_000 }]);
  await client.schedule.getHandle(RECONCILE_SCHEDULE_ID).delete();
});
