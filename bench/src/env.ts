/** The bench's environment: the Replicate simulator and a Temporal dev server on 127.0.0.1, a client, a bundle. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, bundleWorkflowCode } from '@temporalio/worker';
import { freePort, startDevServer, type DevServer } from '../../src/dev/dev-server';
import { installRuntime } from '../../src/observability/metrics-endpoint';
import { ensureSearchAttributes } from '../../src/client/temporal-setup';
import { ReplicateSimulator } from '../../simulator';
import { workflowsPath } from '../../src/worker';

export interface BenchEnv {
  sim: ReplicateSimulator;
  token: string;
  server: DevServer;
  connection: Connection;
  client: Client;
  native: NativeConnection;
  workDir: string;
  /** the runtime's Prometheus /metrics when startBenchEnv was asked for metrics (bench/src/observability.ts) */
  metricsUrl: string | undefined;
  bundle(): Promise<{ code: string }>;
  close(): Promise<void>;
}

let runtimeInstalled = false;

export async function startBenchEnv(
  log: (line: string) => void,
  options: {
    /** serve the runtime's Prometheus /metrics here (the worker's METRICS_PORT) */ metrics?: {
      port: number;
      host: string;
    };
  } = {},
): Promise<BenchEnv> {
  if (!runtimeInstalled) {
    // Workflow and activity logs at INFO would cost the in-process worker (and us) CPU; keep warnings only.
    await installRuntime({ logger: new DefaultLogger('WARN') }, options.metrics);
    runtimeInstalled = true;
  }
  const token = `bench-${randomBytes(8).toString('hex')}`;
  const sim = new ReplicateSimulator({ token, seed: 1 });
  await sim.start();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  const server = await startDevServer({
    port: await freePort(),
    uiPort: null,
    logFile: path.join(workDir, 'devserver.log'),
  });
  log(`simulator ${sim.baseUrl}, dev server ${server.address} (pid ${server.pid ?? '?'})`);
  const connection = await Connection.connect({ address: server.address });
  const native = await NativeConnection.connect({ address: server.address });
  await ensureSearchAttributes(native, 'default');
  const client = new Client({ connection });
  let bundle: Promise<{ code: string }> | undefined;
  return {
    sim,
    token,
    server,
    connection,
    client,
    native,
    workDir,
    metricsUrl: options.metrics
      ? `http://${options.metrics.host}:${options.metrics.port}/metrics`
      : undefined,
    bundle: () => (bundle ??= workflowBundle()),
    async close() {
      await Promise.allSettled([connection.close(), native.close()]);
      await server.stop().catch(() => undefined);
      await sim.stop().catch(() => undefined);
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

/** Count of the simulator's /v1 requests per prediction id. */
export function callsById(sim: ReplicateSimulator): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of sim.requests) {
    if (r.predictionId) counts.set(r.predictionId, (counts.get(r.predictionId) ?? 0) + 1);
  }
  return counts;
}

/** created -> completed at the simulator, and its completion time (epoch ms). */
export function simTimes(
  sim: ReplicateSimulator,
  id: string,
): { createdAt: number; completedAt: number; durationMs: number } | undefined {
  const p = sim.prediction(id);
  if (!p?.completed_at) return undefined;
  const createdAt = Date.parse(p.created_at);
  const completedAt = Date.parse(p.completed_at);
  return { createdAt, completedAt, durationMs: completedAt - createdAt };
}

/** The workflow code for the bench's own Workers: WORKFLOW_BUNDLE (a prebuilt bundle) if set, else bundled once. */
async function workflowBundle(): Promise<{ code: string }> {
  const prebuilt = process.env.WORKFLOW_BUNDLE?.trim();
  if (prebuilt) return { code: readFileSync(prebuilt, 'utf8') };
  return bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
}
