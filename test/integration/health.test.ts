/**
 * The worker's health endpoints (HEALTH_PORT) on a real `npm run worker` process: /readyz answers 503 while the
 * worker starts, 200 once it runs and polls, 503 from SIGTERM on while an in-flight create drains; the process
 * exits 0 after the create completed. /healthz answers 200 throughout.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/dev/binaries';
import { FAST_POLLING, SECRET_TOKEN, spawnWorker, startTestbed, type Testbed } from '../helpers/testbed';

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed();
});
afterAll(async () => {
  await bed?.teardown();
});

interface Probe {
  code: number;
  body: { ready?: boolean; alive?: boolean; state: string; inFlightActivities?: number };
}

async function probe(port: number, path: '/readyz' | '/healthz'): Promise<Probe | null> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2_000) });
    return { code: response.status, body: (await response.json()) as Probe['body'] };
  } catch {
    return null; // not listening (yet, or any more)
  }
}

it('readiness follows the worker: 503 starting, 200 polling, 503 draining after SIGTERM; exit 0 once the create completed', async () => {
  const taskQueue = `health-${randomUUID()}`;
  const worker = spawnWorker(bed, taskQueue, {
    HEALTH_PORT: '0', // a free port; the worker prints it
    HEALTH_HOST: '127.0.0.1',
    SHUTDOWN_GRACE_SECONDS: '20',
  });
  const { child, output } = worker;
  const exited = worker.closed;
  try {
    // The endpoints come up before the worker connects and bundles: not ready while it starts.
    await expect.poll(output, { timeout: 15_000 }).toMatch(/health endpoints on port \d+/);
    const port = Number(/health endpoints on port (\d+)/.exec(output())![1]);
    const seen: Probe[] = [];
    await expect
      .poll(
        async () => {
          const p = await probe(port, '/readyz');
          if (p) seen.push(p);
          return p?.code;
        },
        { timeout: 60_000, interval: 100 },
      )
      .toBe(200);
    expect(seen[0]).toMatchObject({ code: 503, body: { ready: false, state: 'STARTING' } });
    expect(seen.at(-1)!.body).toMatchObject({ ready: true, state: 'RUNNING' });
    expect(await probe(port, '/healthz')).toMatchObject({
      code: 200,
      body: { alive: true, state: 'RUNNING' },
    });
    expect(output()).toContain(`worker polling task queue "${taskQueue}"`);
    // the container's health check (Dockerfile HEALTHCHECK) says the same
    const check = spawnSync(process.execPath, ['--import', 'tsx', 'src/worker/health-probe.ts', '/readyz'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, HEALTH_PORT: String(port) },
      encoding: 'utf8',
    });
    expect(check.status, check.stderr).toBe(0);

    // A create that takes 3 s at Replicate: SIGTERM while it is in flight.
    bed.sim.setFaults({ latencyMs: 3_000 });
    const creates = bed.sim.creates();
    const handle = await bed.start(
      { model: 'sim/echo', input: { n: 'health' }, polling: FAST_POLLING },
      { taskQueue },
    );
    await expect
      .poll(async () => (await probe(port, '/readyz'))?.body.inFlightActivities, {
        timeout: 15_000,
        interval: 50,
      })
      .toBeGreaterThanOrEqual(1);
    child.kill('SIGTERM');

    // Readiness drops while the create drains (3 s at Replicate); liveness stays. The signal reaches the process
    // asynchronously: a probe sent right after kill() can be answered before the handler ran (seen on a loaded
    // machine: 200), so the probes ask until the drop, well inside the create's 3 s.
    await expect
      .poll(() => probe(port, '/readyz'), { timeout: 2_000, interval: 50 })
      .toMatchObject({ code: 503, body: { ready: false } });
    const draining = await probe(port, '/readyz');
    expect(['STOPPING', 'DRAINING', 'DRAINED']).toContain(draining?.body.state);
    expect((await probe(port, '/healthz'))?.code).toBe(200);

    expect(await exited).toBe(0);
    bed.sim.setFaults({});
    // The create ran to its end (201) rather than being cut off: one prediction, answered.
    expect(bed.sim.creates() - creates).toBe(1);
    const id = bed.sim.predictionIds().at(-1)!;
    expect(bed.sim.requests.find((r) => r.predictionId === id && r.route.endsWith('create'))!.status).toBe(
      201,
    );
    const history = await handle.fetchHistory();
    expect(history.events?.some((e) => e.activityTaskCompletedEventAttributes)).toBe(true);
    expect(await probe(port, '/readyz')).toBeNull(); // the endpoints went with the process
    expect(output()).not.toContain(SECRET_TOKEN);
  } finally {
    bed.sim.setFaults({});
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  }
});
