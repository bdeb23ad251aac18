/**
 * The Temporal UI with encryption on: headless Chromium opens the dev server's UI, whose codec endpoint
 * (`--ui-codec-endpoint`, as `npm run demo` sets it) is our codec server on loopback with the UI's origin allowed.
 * The run's summary and input, encrypted in Temporal, show in clear; with the codec server gone they do not.
 *
 * Needs Debian's Chromium (`apt-get install -y chromium`); skipped without it, except in CI where it fails.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  bundleWorkflowCode,
  makeTelemetryFilterString,
} from '@temporalio/worker';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT, runCli } from '../../src/cli';
import type { WorkerConfig } from '../../src/config';
import { freePort, startDevServer, type DevServer } from '../../src/dev/dev-server';
import { startCodecServer, type RunningCodecServer } from '../../src/encryption/codec-server';
import { bundleOptions, dataConverterOf } from '../../src/encryption/data-converter';
import { workerOptions, workflowsPath } from '../../src/worker';
import { ReplicateSimulator } from '../../simulator';
import { hasChromium, launchChromium, newLocalPage } from '../helpers/browser';

const MODEL = 'google/imagen-4-ultra';
const PROMPT = `a portrait of Jane Roe ${randomBytes(4).toString('hex')}`;
const UI_WAIT = { timeout: 30_000 };

const runUiTest = hasChromium() || process.env.CI === 'true';

let sim: ReplicateSimulator | undefined;
let codec: RunningCodecServer | undefined;
let server: DevServer | undefined;
let nativeConnection: NativeConnection | undefined;
let connection: Connection | undefined;
let worker: Worker | undefined;
let running: Promise<void> | undefined;
let browser: Browser | undefined;
let client: Client;
let uiUrl: string;
let taskQueue: string;
const outputDir = path.join(tmpdir(), `replicate-temporal-ui-codec-${randomUUID()}`);
const keys = { current: randomBytes(32) };

describe.skipIf(!runUiTest)('Temporal UI with a codec server', () => {
  beforeAll(async () => {
    try {
      // core's own lines (e.g. "Query not found" when the UI stops waiting for a query) stay out of the output
      Runtime.install({
        logger: new DefaultLogger('WARN'),
        telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
      });
    } catch {
      // already installed in this process
    }
    // the SDK loads the failure converter by path with Node's require: TypeScript needs tsx's hook under vitest
    const { register } = await import('tsx/cjs/api');
    register();
    sim = new ReplicateSimulator({ token: 'sim-ui-token' });
    await sim.start();
    const uiPort = await freePort();
    uiUrl = `http://127.0.0.1:${uiPort}`; // everything stays on 127.0.0.1 (the dev server binds there)
    codec = await startCodecServer({
      port: 0,
      host: '127.0.0.1',
      corsOrigins: [uiUrl],
      namespace: 'default',
      keys,
    });
    server = await startDevServer({ port: await freePort(), uiPort, uiCodecEndpoint: codec.origin });
    taskQueue = `ui-codec-${randomUUID()}`;
    const config: WorkerConfig = {
      address: server.address,
      namespace: 'default',
      taskQueue,
      replicateToken: 'sim-ui-token',
      replicateBaseUrl: sim.baseUrl,
      maxTaskQueueActivitiesPerSecond: 1000,
      shutdownGraceTimeMs: 1000,
      outputDir,
      webhook: null,
      encryption: keys,
    };
    const dataConverter = dataConverterOf(config);
    nativeConnection = await NativeConnection.connect({ address: server.address });
    const workflowBundle = await bundleWorkflowCode({
      workflowsPath,
      logger: new DefaultLogger('WARN'),
      ...bundleOptions(dataConverter),
    });
    const { workflowsPath: _path, ...options } = workerOptions(config, nativeConnection);
    worker = await Worker.create({ ...options, workflowBundle });
    running = worker.run();
    connection = await Connection.connect({ address: server.address });
    client = new Client({ connection, namespace: 'default', dataConverter });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    await connection?.close();
    await nativeConnection?.close();
    await server?.stop();
    await codec?.stop();
    await sim?.stop();
    rmSync(outputDir, { recursive: true, force: true });
  });

  it('shows the encrypted run in clear through the codec server, and not without it', async () => {
    const workflowId = `ui-codec-${randomBytes(4).toString('hex')}`;
    const out: string[] = [];
    const code = await runCli(
      ['run', '--model', MODEL, '--input', JSON.stringify({ prompt: PROMPT }), '--workflow-id', workflowId],
      { client: async () => client, taskQueue, out: (l) => out.push(l), err: (l) => out.push(l) },
    );
    expect(code, out.join('\n')).toBe(EXIT.ok);

    const { page, blocked } = await newLocalPage(browser!, { viewport: { width: 1400, height: 1600 } });
    // The summary (user metadata, a payload) and the input, decoded by the browser through the codec server.
    await page.goto(`${uiUrl}/namespaces/default/workflows/${workflowId}`);
    await page.getByTestId('workflow-id-heading').getByText(workflowId).waitFor(UI_WAIT);
    await page.getByText(PROMPT, { exact: false }).first().waitFor(UI_WAIT);
    await page.getByTestId('user-metadata-tab').click();
    await page.waitForURL(/\/user-metadata$/, UI_WAIT);
    const summary = page.frameLocator('#user-metadata-summary');
    await summary.getByText(PROMPT, { exact: false }).waitFor(UI_WAIT);

    // The codec server gone: the same page shows no prompt.
    await codec!.stop();
    await page.goto(`${uiUrl}/namespaces/default/workflows/${workflowId}`);
    await page.getByTestId('workflow-id-heading').getByText(workflowId).waitFor(UI_WAIT);
    await page.getByTestId('execution-status').waitFor(UI_WAIT);
    await page.waitForLoadState('networkidle');
    expect(await page.locator('body').innerText()).not.toContain(PROMPT);
    expect(blocked.filter((url) => !url.startsWith('https://newsfeed.temporal.io/'))).toEqual([]);
    await page.context().close();
  }, 120_000);
});
