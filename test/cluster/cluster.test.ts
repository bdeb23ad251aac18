/**
 * The native production-shaped cluster, end to end: `npm run cluster -- up --workers 2` (PostgreSQL, the Temporal
 * server on PostgreSQL persistence and visibility, the UI, the webhook receiver, two workers) against the Replicate
 * simulator; five predictions through the CLI; list queries on PostgreSQL visibility; `down` leaves nothing
 * running; a second `up` finds the same data. On a fresh machine the first `up` builds the server with `go install`
 * (cached in .cluster/bin), hence the long first hook.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ReplicateSimulator } from '../../simulator';
import { isPortFree } from '../../src/dev/dev-server';
import { freeClusterPort } from './ports';
import { layoutFrom, type Layout } from '../../scripts/cluster/layout';
import { postgresPid } from '../../scripts/cluster/postgres';
import { ourProcesses, readRecords } from '../../scripts/cluster/processes';
import { until } from '../../scripts/cluster/temporal';

const run = promisify(execFile);
const ROOT = path.join(__dirname, '..', '..');
const TOKEN = 'sim-cluster-token-5c2e';
const RUNS = 5;
const PREFIX = `cluster-test-${Date.now().toString(36)}`;

const sim = new ReplicateSimulator({ token: TOKEN });
let home: string;
let layout: Layout;
let env: NodeJS.ProcessEnv;
let address: string;

async function cluster(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run('npm', ['run', '-s', 'cluster', '--', ...args], {
    cwd: ROOT,
    env,
    maxBuffer: 16 * 1024 * 1024,
  });
}

async function clusterUp(workers: number): Promise<string> {
  const { stdout } = await cluster('up', '--workers', String(workers));
  const line = stdout.split('\n').find((l) => l.startsWith('TEMPORAL_ADDRESS='));
  expect(line, stdout).toBeDefined();
  return line!.slice('TEMPORAL_ADDRESS='.length);
}

/** `pid`'s start time (clock ticks since boot) while it runs, null once gone or a zombie waiting to be reaped. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? null : fields[19]!;
  } catch {
    return null;
  }
}

/** Everything `up` started: recorded processes, PostgreSQL, and anything carrying the cluster's mark. */
function running(): { records: string[]; postgres: number | null; marked: number[] } {
  return {
    records: readRecords(layout)
      .filter((r) => ourProcesses(layout).includes(r.pid))
      .map((r) => r.name),
    postgres: postgresPid(layout),
    marked: ourProcesses(layout),
  };
}

async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address });
  try {
    return await fn(new Client({ connection, namespace: 'default' }));
  } finally {
    await connection.close();
  }
}

async function completedRuns(client: Client): Promise<string[]> {
  const ids: string[] = [];
  for await (const info of client.workflow.list({
    query: `ExecutionStatus = 'Completed' AND WorkflowType = 'runPrediction' AND ReplicateModel = 'google/imagen-4-ultra'`,
  })) {
    if (info.workflowId.startsWith(PREFIX)) ids.push(info.workflowId);
  }
  return ids.sort();
}

beforeAll(async () => {
  const baseUrl = await sim.start();
  home = mkdtempSync(path.join(tmpdir(), 'replicate-temporal-cluster-'));
  chmodSync(home, 0o755); // PostgreSQL runs as the postgres user when the tests run as root
  env = {
    ...process.env,
    CLUSTER_HOME: home,
    CLUSTER_PORT: String(await freeClusterPort(20_000, 110)),
    REPLICATE_API_TOKEN: TOKEN,
    REPLICATE_BASE_URL: baseUrl,
    OUTPUT_DIR: path.join(home, 'outputs'),
  };
  delete env.TEMPORAL_ADDRESS;
  layout = layoutFrom(env);
  address = await clusterUp(2);
}, 45 * 60_000); // a fresh machine builds the server first (go install, about 15 minutes on 2 cores)

afterAll(async () => {
  if (layout && running().marked.length > 0) await cluster('down').catch(() => undefined);
  await sim.stop();
  if (home) rmSync(home, { recursive: true, force: true });
}, 120_000);

it('up prints the address of a cluster whose components all run', async () => {
  expect(address).toBe(`127.0.0.1:${layout.ports.frontend}`);
  const { stdout } = await cluster('status');
  for (const name of ['postgres', 'temporal-server', 'webhooks', 'worker-1', 'worker-2']) {
    expect(stdout).toMatch(new RegExp(`^${name}\\s+running\\s+pid \\d+`, 'm'));
  }
  expect(stdout).toContain(`TEMPORAL_ADDRESS=${address}`);
  // the webhook receiver and the workers are separate processes, as on a fleet
  expect(running().records).toEqual(expect.arrayContaining(['webhooks', 'worker-1', 'worker-2']));
});

it(`runs ${RUNS} predictions through the CLI on two workers, one prediction each`, async () => {
  const results = await Promise.all(
    Array.from({ length: RUNS }, async (_, i) => {
      const { stdout } = await run(
        'npm',
        [
          'run',
          '-s',
          'client',
          '--',
          'run',
          '--model',
          'google/imagen-4-ultra',
          '--input',
          JSON.stringify({ prompt: `cluster ${i}` }),
          '--workflow-id',
          `${PREFIX}-${i}`,
          '--json',
        ],
        { cwd: ROOT, env: { ...env, TEMPORAL_ADDRESS: address } },
      );
      return JSON.parse(stdout) as {
        workflowId: string;
        status: string;
        predictionId: string;
        output: unknown;
      };
    }),
  );
  for (const [i, result] of results.entries()) {
    expect(result.workflowId).toBe(`${PREFIX}-${i}`);
    expect(result.status).toBe('succeeded');
    expect(String(result.output)).toContain(`/files/${result.predictionId}/`);
  }
  const ids = results.map((r) => r.predictionId);
  expect(new Set(ids).size).toBe(RUNS);
  expect(sim.predictionIds().sort()).toEqual([...ids].sort()); // no duplicate creates
  for (const id of ids) {
    expect(sim.prediction(id)?.input).toMatchObject({ prompt: expect.stringMatching(/^cluster \d$/) });
    expect(sim.counters(id).cancels).toBe(0);
  }
}, 120_000);

it('answers list queries by ExecutionStatus and our search attributes from PostgreSQL visibility', async () => {
  const expected = Array.from({ length: RUNS }, (_, i) => `${PREFIX}-${i}`).sort();
  await withClient(async (client) => {
    // visibility is written asynchronously: wait for the five closed runs to be listed
    const listed = await until('five completed runs listed', 30_000, async () => {
      const ids = await completedRuns(client);
      if (ids.length < RUNS) throw new Error(`${ids.length} listed`);
      return ids;
    });
    expect(listed).toEqual(expected);
    const running = await client.workflow.count(
      `ExecutionStatus = 'Running' AND WorkflowType = 'runPrediction'`,
    );
    expect(running.count).toBe(0);
    const byStatus = await client.workflow.count(
      `ReplicateStatus = 'succeeded' AND ExecutionStatus = 'Completed' AND WorkflowType = 'runPrediction'`,
    );
    expect(byStatus.count).toBe(RUNS);
    const system = await client.workflowService.getSystemInfo({});
    expect(system.serverVersion).toMatch(/^1\.32\./);
  });
});

it('down stops everything it started, and a second up finds the same data', async () => {
  const before = running();
  expect(before.postgres).not.toBeNull();
  expect(before.marked.length).toBeGreaterThan(5);
  const started = before.marked.map((pid) => ({ pid, since: startTime(pid) }));
  await cluster('down');
  expect(running()).toEqual({ records: [], postgres: null, marked: [] });
  // none of those processes runs any more (a pid in use again belongs to a newer process)
  const survivors = started.filter(({ pid, since }) => since !== null && startTime(pid) === since);
  expect(survivors).toEqual([]);
  expect(await isPortFree(layout.ports.frontend)).toBe(true);
  expect(await isPortFree(layout.ports.postgres)).toBe(true);
  await expect(cluster('status')).rejects.toMatchObject({ code: 3 });

  // the same PostgreSQL data: the runs of the first up are still listed
  address = await clusterUp(0);
  await withClient(async (client) => expect(await completedRuns(client)).toHaveLength(RUNS));
  await cluster('down');
  expect(running()).toEqual({ records: [], postgres: null, marked: [] });
}, 180_000);
