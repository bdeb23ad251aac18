/**
 * `npm run demo`: everything in one command, with no configuration.
 * Starts a Temporal dev server (UI on the frontend port + 1000, 8233 by default; SQLite in .temporal/), the
 * Replicate simulator (unless REPLICATE_API_TOKEN is set: then the real API), a worker, runs one prediction with
 * live progress through the CLI, prints the output and the UI link, and shuts everything down (see USAGE).
 */
import path from 'node:path';
import { NativeConnection, Runtime, DefaultLogger, makeTelemetryFilterString } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connectLazily, EXIT, runCli, terminalLine } from '../cli';
import {
  DEFAULT_BASE_URL,
  readBundlePath,
  readReplicateRateLimits,
  readTemporalConfig,
  temporalConnectionOptions,
  type TemporalConfig,
  type WorkerConfig,
} from '../config';
import { PROJECT_ROOT } from './binaries';
import { freePort, isPortFree, isTemporalUp, startDevServer, type DevServer } from './dev-server';
import { ReplicateSimulator } from '../../simulator';
import { ensureSearchAttributes } from '../client/temporal-setup';
import { startCodecServer, type RunningCodecServer } from '../encryption/codec-server';
import { createWorkers, runWorkers } from '../worker';
import { isExpectedSdkNotice, SaidFailures } from '../worker/logging';

const DEFAULT_ARGS = [
  '--model',
  'google/imagen-4-ultra',
  '--input',
  '{"prompt": "a lighthouse at dusk, oil painting"}',
];

export const USAGE = `usage: npm run demo [-- FLAGS]
  npm run demo                                    google/imagen-4-ultra, "a lighthouse at dusk"
  npm run demo -- --model sim/fail --input '{}'   any flags of \`npm run -s client -- run\` (run --help)
  npm run demo -- pipeline FILE [--input K=V]     a pipeline, e.g. examples/poster.yaml (outputs land in outputs/)
  npm run demo -- --keep                          keep the server, its UI, the simulator and the worker up
                                                  afterwards, to browse the run; Ctrl-C stops them
Starts a Temporal dev server on TEMPORAL_ADDRESS (default localhost:7233; UI on its port + 1000, data in
.temporal/demo.db, or DEMO_DB_FILE), or uses the one already answering there; the Replicate simulator unless
REPLICATE_API_TOKEN is set (then the real API, billed); a worker; then runs one prediction with live progress.`;

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return EXIT.ok;
  }
  const keep = argv.includes('--keep');
  const runArgs = argv.filter((a) => a !== '--keep');
  const say = (line: string) => console.log(`[demo] ${line}`);
  const cleanups: (() => Promise<unknown>)[] = [];
  // what the demo started, in words, for the lines that say what it stops (and nothing else)
  const startedHere: string[] = [];
  const suffix = randomBytes(4).toString('hex');
  // Ctrl-C is ours, not the SDK's: it stops watching the run (or ends --keep), then everything shuts down in order.
  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    // Worker and activity logs would drown the progress lines; warnings and errors still show.
    const sdkWarnings = new DefaultLogger('WARN');
    const failures = new SaidFailures(); // one line per failure, as the worker's log
    Runtime.install({
      logger: new DefaultLogger('WARN', (entry) => {
        if (!isExpectedSdkNotice(entry) && !failures.repeats(entry))
          sdkWarnings.log(entry.level, entry.message, entry.meta);
      }),
      shutdownSignals: [],
      telemetryOptions: { logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) } },
    });

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
      startedHere.push('the simulator');
      say(`REPLICATE_API_TOKEN is not set: using the local Replicate simulator at ${baseUrl}`);
    } else {
      say(`using the Replicate API at ${baseUrl} (real predictions are billed)`);
    }

    // 2. Temporal: reuse a running server on TEMPORAL_ADDRESS, else start the dev server.
    const temporal = readTemporalConfig();
    const port = Number(temporal.address.split(':').pop());
    let uiUrl: string | null;
    // ENCRYPTION_KEY: a codec server on loopback lets the UI (in this machine's browser) show the payloads in clear
    const codecFor = async (ui: string | null): Promise<RunningCodecServer | undefined> => {
      const codec = await demoCodecServer(temporal, ui);
      if (codec) cleanups.push(() => codec.stop());
      return codec;
    };
    const reused = await isTemporalUp(temporal.address, temporalConnectionOptions(temporal));
    if (reused) {
      // Its UI, if it has one, is usually on the port + 1000 (temporal server start-dev's default).
      uiUrl = process.env.TEMPORAL_UI_URL?.trim() || (await uiAt(port + 1000));
      // Other workers may poll this server's queues (perhaps with a real token): the demo's run goes to a queue
      // only the demo's worker polls.
      temporal.taskQueue = `demo-${suffix}`;
      say(
        `using the Temporal server already running at ${temporal.address} (UI ${uiUrl ?? 'not found; set TEMPORAL_UI_URL'}), on task queue ${temporal.taskQueue} (the demo's own: no other worker can take its run)`,
      );
      const codec = await codecFor(uiUrl);
      if (codec)
        say(
          `ENCRYPTION_KEY is set: payloads are encrypted; to read them in that UI, set its Codec Server endpoint (Settings, bottom left) to ${codec.origin}`,
        );
    } else {
      // The UI goes on port + 1000 (8233 for 7233) unless that is taken; the line says the port it really uses.
      const uiPort = (await isPortFree(port + 1000)) ? port + 1000 : await freePort();
      const dbFile = process.env.DEMO_DB_FILE?.trim() || path.join(PROJECT_ROOT, '.temporal', 'demo.db');
      say(
        `starting the Temporal dev server on ${temporal.address} (UI http://localhost:${uiPort}, data in ${dbFile.startsWith(PROJECT_ROOT) ? path.relative(PROJECT_ROOT, dbFile) : dbFile})...`,
      );
      const codec = await codecFor(`http://localhost:${uiPort}`);
      if (codec)
        say(
          `ENCRYPTION_KEY is set: payloads are encrypted; the UI reads them through the codec server at ${codec.origin}`,
        );
      const server: DevServer = await startDevServer({
        port,
        uiPort,
        dbFile,
        log: say,
        ...(codec ? { uiCodecEndpoint: codec.origin } : {}),
      });
      uiUrl = server.uiUrl;
      temporal.address = server.address;
      cleanups.push(() => server.stop());
      startedHere.push('the Temporal dev server and its UI');
    }

    // 3. A worker in this process.
    const connection = await NativeConnection.connect(temporalConnectionOptions(temporal));
    cleanups.push(() => connection.close());
    const config: WorkerConfig = {
      ...temporal,
      replicateToken: token,
      replicateBaseUrl: baseUrl,
      maxTaskQueueActivitiesPerSecond: 10,
      replicateRateLimits: readReplicateRateLimits(), // the reads Worker too, as `npm run worker` (flow-control.ts)
      shutdownGraceTimeMs: 5_000,
      outputDir: process.env.OUTPUT_DIR?.trim() || path.join(PROJECT_ROOT, 'outputs'),
      webhook: null,
      ...readBundlePath(process.env, temporal.encryption !== undefined), // as `npm run worker`
    };
    await ensureSearchAttributes(connection, temporal.namespace); // a reused server may lack them
    const workers = await createWorkers(config, connection);
    const running = runWorkers(workers);
    startedHere.push('the worker');
    cleanups.push(async () => {
      for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    });

    // 4. One prediction through the CLI, with live progress.
    const workflowId = `demo-${suffix}`;
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
      signal: interrupt.signal,
      live: process.stdout.isTTY ? terminalLine(process.stdout) : undefined,
    });
    const link = uiUrl
      ? `${uiUrl}/namespaces/${temporal.namespace}/workflows/${encodeURIComponent(workflowId)}`
      : null;
    const ours = listed(startedHere);
    if (keep && !interrupt.signal.aborted) {
      if (link) say(`see the run in the Temporal UI: ${link}`);
      say(`--keep: ${ours} stay up; press Ctrl-C to stop them`);
      await new Promise<void>((resolve) => {
        if (interrupt.signal.aborted) resolve();
        interrupt.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } else if (reused) {
      if (link) say(`the run in the Temporal UI: ${link}`);
      say(
        `the demo now stops what it started (${ours}); the Temporal server at ${temporal.address} keeps running`,
      );
    } else {
      if (link) say(`the run in the Temporal UI (up until the demo stops): ${link}`);
      say(
        `the demo now stops what it started (${ours}), so those links go away with it; to browse them afterwards: npm run demo -- --keep`,
      );
    }
    return code;
  } finally {
    say('shutting down...');
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => console.error(`[demo] cleanup: ${String(error)}`));
    }
    say(startedHere.length > 0 ? `stopped ${listed(startedHere)}` : 'stopped');
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** With ENCRYPTION_KEY, a codec server on a free loopback port for the UI at `ui` (browsers from there only). */
async function demoCodecServer(
  temporal: TemporalConfig,
  ui: string | null,
): Promise<RunningCodecServer | undefined> {
  if (!temporal.encryption) return undefined;
  const origins = ui ? [new URL(ui).origin] : [];
  // the browser may name the UI's host either way
  for (const origin of [...origins]) {
    const url = new URL(origin);
    if (url.hostname === 'localhost') origins.push(`${url.protocol}//127.0.0.1:${url.port}`);
  }
  return startCodecServer({
    port: 0,
    host: '127.0.0.1',
    corsOrigins: origins,
    namespace: temporal.namespace,
    keys: temporal.encryption,
  });
}

/** `a, b and c` */
function listed(items: string[]): string {
  return items.length < 2 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

/** The URL of a web UI answering on `port` of this host, or null. */
async function uiAt(port: number): Promise<string | null> {
  const url = `http://localhost:${port}`;
  return fetch(url, { signal: AbortSignal.timeout(1_000) }).then(
    (response) => (response.ok ? url : null),
    () => null,
  );
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`[demo] ${error instanceof Error ? error.message : String(error)}`);
    process.exit(EXIT.usage);
  },
);
