/**
 * Which `temporal_*` metrics the TS SDK's Prometheus exporter really serves, and with which labels:
 * `npx tsx scripts/observability/sdk-metrics.ts [--seconds] [--total]`.
 *
 * Starts a headless Temporal dev server and a worker in this process with `Runtime.install({ telemetryOptions:
 * { metrics: { prometheus: { bindAddress } } } })`, runs probe workflows (a completed one with a timer and an
 * activity, an activity failing once, a failed and a canceled workflow, a workflow task failing), scrapes /metrics and prints every `temporal_*`
 * family with its type and label names. The list in deploy/prometheus/sdk-metrics.ts was written from this output
 * (`--seconds` = useSecondsForDurations, `--total` = countersTotalSuffix, as the worker's runtime options set).
 */
import { Client } from '@temporalio/client';
import {
  type PrometheusMetricsExporter,
  NativeConnection,
  Runtime,
  Worker,
  DefaultLogger,
  makeTelemetryFilterString,
} from '@temporalio/worker';
import path from 'node:path';
import { freePort, startDevServer } from '../../src/dev/dev-server';
import { prometheusMetrics } from '../../src/observability/metrics';
import { parseExposition } from './exposition';

async function main(): Promise<void> {
  const seconds = process.argv.includes('--seconds');
  const total = process.argv.includes('--total');
  const metricsPort = await freePort();
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) },
      // the worker's own exporter options (src/observability/metrics.ts), with the two flags to compare
      metrics: {
        prometheus: {
          ...(prometheusMetrics({ host: '127.0.0.1', port: metricsPort }) as PrometheusMetricsExporter)
            .prometheus,
          ...(seconds ? { useSecondsForDurations: true } : {}),
          ...(total ? { countersTotalSuffix: true } : {}),
        },
      },
    },
  });
  const server = await startDevServer({ port: await freePort(), uiPort: null });
  const connection = await NativeConnection.connect({ address: server.address });
  const client = new Client({
    connection: await (await import('@temporalio/client')).Connection.connect({ address: server.address }),
  });
  const failed = new Set<string>();
  const worker = await Worker.create({
    connection,
    taskQueue: 'probe',
    workflowsPath: path.join(__dirname, 'probe-workflows.ts'),
    activities: {
      probeActivity: async (failFirst: boolean) => {
        const key = `${failFirst}`;
        if (failFirst && !failed.has(key)) {
          failed.add(key);
          throw new Error('probe: first attempt fails');
        }
        return 'done';
      },
    },
  });
  await worker.runUntil(async () => {
    await client.workflow.execute('probeOk', { taskQueue: 'probe', workflowId: 'ok', args: [false] });
    await client.workflow.execute('probeOk', { taskQueue: 'probe', workflowId: 'retry', args: [true] });
    await client.workflow
      .execute('probeFail', { taskQueue: 'probe', workflowId: 'fail' })
      .catch(() => undefined);
    const waiting = await client.workflow.start('probeWaitForCancel', {
      taskQueue: 'probe',
      workflowId: 'cancel',
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    await waiting.cancel();
    await waiting.result().catch(() => undefined);
    const bad = await client.workflow.start('probeTaskFailure', { taskQueue: 'probe', workflowId: 'bad' });
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // the first task attempt fails at once
    await bad.terminate('probe done');
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // the exporter's collection interval
  });
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  for (const family of parseExposition(text).filter((f) => f.name.startsWith('temporal_')))
    console.log(`${family.name}\t${family.type}\t${[...family.labels].sort().join(',')}`);
  await connection.close();
  await server.stop();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
