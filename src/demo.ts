/**
 * `npm run demo`: everything in one command, with no configuration.
 * Starts a Temporal dev server (UI on 8233, SQLite in .temporal/), the Replicate simulator (unless
 * REPLICATE_API_TOKEN is set: then the real API), a worker, runs one prediction with live progress through the
 * CLI, prints the output and the UI link, and shuts everything down.
 *
 *   npm run demo                                   # google/imagen-4-ultra, a lighthouse at dusk
 *   npm run demo -- --model sim/fail --input '{}'  # any `run` flags
 *   npm run demo -- pipeline examples/poster.yaml  # a multi-step pipeline (outputs land in outputs/)
 *   npm run demo -- --keep                         # keep the server and UI up afterwards (Ctrl-C to stop)
 */
import path from 'node:path';
import { NativeConnection, Runtime, DefaultLogger, Worker } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connectLazily, EXIT, runCli } from './client';
import { DEFAULT_BASE_URL, readTemporalConfig, type WorkerConfig } from './config';
import { PROJECT_ROOT } from './dev/binaries';
import { isTemporalUp, startDevServer, type DevServer } from './dev/dev-server';
import { ReplicateSimulator } from './simulator';
import { ensureSearchAttributes } from './temporal-setup';
import { workerOptions } from './worker';

const DEFAULT_ARGS = [
  '--model',
  'google/imagen-4-ultra',
  '--input',
  '{"prompt": "a lighthouse at dusk, oil painting"}',
];

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const keep = argv.includes('--keep');
  const runArgs = argv.filter((a) => a !== '--keep');
  const say = (line: string) => console.log(`[demo] ${line}`);
  const cleanups: (() => Promise<unknown>)[] = [];

  try {
    // Worker and activity logs would drown the progress lines; warnings and errors still show.
    Runtime.install({ logger: new DefaultLogger('WARN') });

    // 1. Replicate: the real API when a token is set, else the local simulator.
    let token = process.env.REPLICATE_API_TOKEN?.trim();
    let baseUrl = process.env.REPLICATE_BASE_URL?.trim() || DEFAULT_BASE_URL;
    if (!token) {
      const sim = new ReplicateSimulator({ port: 0 });
      // Closer to the real model's pace than the simulator's quick default, so the progress is visible.
      sim.setModel('google/imagen-4-ultra', {
        requiredInputs: ['prompt'],
        startDelayMs: 2_000,
        durationMs: 9_000,
        logs: [
          'Loading pipeline...',
          'Using seed: 20731',
          'Generating image 1/1',
          'Upscaling',
          'Saving output',
        ],
      });
      baseUrl = await sim.start();
      token = 'sim-token';
      cleanups.push(() => sim.stop());
      say(`REPLICATE_API_TOKEN is not set: using the local Replicate simulator at ${baseUrl}`);
    } else {
      say(`using the Replicate API at ${baseUrl} (real predictions are billed)`);
    }

    // 2. Temporal: reuse a running server on TEMPORAL_ADDRESS, else start the dev server.
    const temporal = readTemporalConfig();
    let uiUrl = 'http://localhost:8233';
    if (await isTemporalUp(temporal.address)) {
      say(`using the Temporal server already running at ${temporal.address}`);
    } else {
      const port = Number(temporal.address.split(':').pop());
      say(`starting the Temporal dev server on ${temporal.address} (UI ${uiUrl}, data in .temporal/)...`);
      const server: DevServer = await startDevServer({
        port,
        uiPort: port + 1000,
        dbFile: path.join(PROJECT_ROOT, '.temporal', 'demo.db'),
        log: say,
      });
      uiUrl = server.uiUrl ?? uiUrl;
      temporal.address = server.address;
      cleanups.push(() => server.stop());
    }

    // 3. A worker in this process.
    const connection = await NativeConnection.connect({ address: temporal.address });
    cleanups.push(() => connection.close());
    const config: WorkerConfig = {
      ...temporal,
      replicateToken: token,
      replicateBaseUrl: baseUrl,
      maxTaskQueueActivitiesPerSecond: 10,
      shutdownGraceTimeMs: 5_000,
      outputDir: process.env.OUTPUT_DIR?.trim() || path.join(PROJECT_ROOT, 'outputs'),
      webhook: null,
    };
    await ensureSearchAttributes(connection, temporal.namespace); // a reused server may lack them
    const worker = await Worker.create(workerOptions(config, connection));
    const running = worker.run();
    cleanups.push(async () => {
      worker.shutdown();
      await running;
    });

    // 4. One prediction through the CLI, with live progress.
    const workflowId = `demo-${randomBytes(4).toString('hex')}`;
    const args =
      runArgs[0] === 'pipeline'
        ? ['pipeline', 'run', ...runArgs.slice(1), '--pipeline-id', workflowId]
        : ['run', ...(runArgs.length > 0 ? runArgs : DEFAULT_ARGS), '--workflow-id', workflowId];
    say(`running: npm run -s client -- ${args.map((a) => (/[\s{"]/.test(a) ? `'${a}'` : a)).join(' ')}`);
    const code = await runCli(args, {
      client: connectLazily(temporal),
      taskQueue: temporal.taskQueue,
      out: (line) => console.log(line),
      err: (line) => console.error(line),
      readFile: (file) => readFileSync(file, 'utf8'),
    });
    say(`see the run in the Temporal UI: ${uiUrl}/namespaces/${temporal.namespace}/workflows/${workflowId}`);
    if (keep) {
      say('--keep: the server, the UI and the worker stay up; press Ctrl-C to stop');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
    }
    return code;
  } finally {
    say('shutting down...');
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => console.error(`[demo] cleanup: ${String(error)}`));
    }
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`[demo] ${error instanceof Error ? error.message : String(error)}`);
    process.exit(EXIT.usage);
  },
);
