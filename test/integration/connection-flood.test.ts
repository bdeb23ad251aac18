/**
 * A connection flood against the worker's own HTTP servers (HEALTH_PORT, METRICS_PORT) must not take the worker
 * down: 20,000 idle connections (10,000 on each port, opened by child processes with their own file descriptors),
 * then a run succeeds on the same worker, the process is alive, the idle connections are closed by the worker
 * (capped on arrival, timed out after), and both endpoints answer again. A real `npm run worker` process.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { freePort } from '../../src/dev/dev-server';
import {
  FAST_POLLING,
  spawnWorker,
  startTestbed,
  type Testbed,
  type WorkerProcess,
} from '../helpers/testbed';

const PER_PORT = 10_000;

let bed: Testbed;
let worker: WorkerProcess;
let healthPort: number;
let metricsPort: number;
const taskQueue = `flood-${randomUUID()}`;

beforeAll(async () => {
  bed = await startTestbed();
  [healthPort, metricsPort] = [await freePort(), await freePort()];
  worker = spawnWorker(bed, taskQueue, {
    HEALTH_PORT: String(healthPort),
    METRICS_PORT: String(metricsPort),
    RECONCILE_EVERY: 'off',
    REPLICATE_READ_RPM: 'off',
    OUTPUT_DIR: path.join(tmpdir(), `flood-${randomUUID()}`),
    SHUTDOWN_GRACE_SECONDS: '2',
  });
  await vi.waitFor(
    () => {
      if (worker.child.exitCode !== null) throw new Error(`worker exited: ${worker.output()}`);
      if (!worker.output().includes('worker polling task queue')) throw new Error('not polling yet');
    },
    { timeout: 60_000, interval: 200 },
  );
});

afterAll(async () => {
  if (worker && worker.child.exitCode === null) {
    worker.child.kill('SIGTERM');
    await worker.closed;
  }
  await bed?.teardown();
});

interface FloodReport {
  started: number;
  connected: number;
  closedByServer: number;
  failed: number;
  open: number;
  done: boolean;
}

function flood(port: number): { child: ChildProcess; report(): Promise<FloodReport> } {
  const child = fork(
    path.join(__dirname, '..', 'helpers', 'idle-connections.ts'),
    ['127.0.0.1', String(port), String(PER_PORT)],
    { execArgv: ['--import', 'tsx'] },
  );
  return {
    child,
    report: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve(m as FloodReport));
        child.send('report');
      }),
  };
}

/** File descriptors the worker process holds now (Linux: /proc). */
const workerFds = (): number => readdirSync(`/proc/${worker.child.pid}/fd`).length;

async function answers(port: number, route: string): Promise<number | null> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${route}`, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return null;
  }
}

it('20,000 idle connections on the health and metrics ports: a run still succeeds, the worker lives', async () => {
  expect(await answers(healthPort, '/healthz')).toBe(200);
  expect(await answers(metricsPort, '/metrics')).toBe(200);
  const baseline = workerFds();
  const floods = [flood(healthPort), flood(metricsPort)];
  try {
    // every connection attempted (accepted, then kept or closed by the worker)
    await vi.waitFor(
      async () => {
        const reports = await Promise.all(floods.map((f) => f.report()));
        if (!reports.every((r) => r.done)) throw new Error(JSON.stringify(reports));
      },
      { timeout: 30_000, interval: 250 },
    );
    const reports = await Promise.all(floods.map((f) => f.report()));
    expect(reports.reduce((n, r) => n + r.started, 0)).toBe(2 * PER_PORT);
    // the worker keeps at most its cap open on each port (256): the rest were closed on arrival
    expect(workerFds()).toBeLessThanOrEqual(baseline + 2 * 256 + 32);
    for (const r of reports) expect(r.closedByServer).toBeGreaterThan(PER_PORT - 256 - 100);

    // while the flood holds its connections: a run on this worker succeeds
    const handle = await bed.env.client.workflow.start('runPrediction', {
      taskQueue,
      workflowId: `flood-${randomUUID()}`,
      workflowExecutionTimeout: '30s',
      args: [{ model: 'sim/echo', input: { after: 'flood' }, polling: FAST_POLLING }],
    });
    const result = (await handle.result()) as { status: string; output: unknown };
    expect(result).toMatchObject({ status: 'succeeded', output: { after: 'flood' } });
    expect(worker.child.exitCode).toBeNull();

    // the idle connections that got in are timed out by the worker (10 s without a byte), and the endpoints
    // answer again
    await vi.waitFor(
      () => {
        if (workerFds() > baseline + 16)
          throw new Error(`the worker holds ${workerFds()} fds (${baseline} before)`);
      },
      { timeout: 25_000, interval: 500 },
    );
    expect(await answers(healthPort, '/healthz')).toBe(200);
    expect(await answers(metricsPort, '/metrics')).toBe(200);
    expect(worker.child.exitCode).toBeNull();
    expect(worker.output()).not.toMatch(/uv loop|EMFILE|too many open files/i);
  } finally {
    for (const f of floods) f.child.send('exit');
  }
}, 90_000);
