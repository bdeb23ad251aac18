/**
 * The Temporal UI as a user sees it: headless Chromium opens the dev server's Web UI, finds a finished run
 * through a search-attribute query, checks that its summary, status and details are shown, saves the screenshot
 * docs/observability.md embeds (docs/temporal-ui.png), and reads the event history: the create, the polls (local
 * activities) and the timers, each with its summary.
 *
 * Needs Debian's Chromium (`apt-get install -y chromium`, or CHROMIUM_PATH): without it the test fails, naming the
 * fix. SKIP_UI_TEST=1 skips it, on purpose only.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  makeTelemetryFilterString,
} from '@temporalio/worker';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT, runCli } from '../../src/cli';
import type { WorkerConfig } from '../../src/config';
import { PROJECT_ROOT } from '../../src/dev/binaries';
import { freePort, startDevServer, type DevServer } from '../../src/dev/dev-server';
import { ReplicateSimulator } from '../../simulator';
import { runPrediction } from '../../src/workflows';
import { workerOptions } from '../../src/worker';
import { CHROMIUM_PATH, hasChromium, launchChromium, newLocalPage } from '../helpers/browser';
import { sharedWorkflowBundle } from '../helpers/shared-bundle';

// The docs' picture is refreshed on purpose (UPDATE_SCREENSHOT=1 npm test); other runs write to a temp folder.
const SCREENSHOT = process.env.UPDATE_SCREENSHOT
  ? path.join(PROJECT_ROOT, 'docs', 'temporal-ui.png')
  : path.join(tmpdir(), `temporal-ui-${process.pid}.png`);

const MODEL = 'google/imagen-4-ultra';
const PROMPT = 'a lighthouse at dusk';
/** The list filter a user would type: our search attribute plus the built-in status. */
const QUERY = `ReplicateModel = '${MODEL}' AND ExecutionStatus = 'Completed'`;
/** The UI is a Svelte SPA that loads its data after the page: wait generously for each step. */
const UI_WAIT = { timeout: 30_000 };

const skipUiTest = process.env.SKIP_UI_TEST === '1';

let sim: ReplicateSimulator | undefined;
let server: DevServer | undefined;
let nativeConnection: NativeConnection | undefined;
let connection: Connection | undefined;
let worker: Worker | undefined;
let running: Promise<void> | undefined;
let browser: Browser | undefined;
let client: Client;
let uiUrl: string;
let taskQueue: string;
const outputDir = path.join(tmpdir(), `replicate-temporal-ui-${randomUUID()}`);

describe.skipIf(skipUiTest)('Temporal UI', () => {
  beforeAll(async () => {
    if (!hasChromium())
      throw new Error(
        `no Chromium at ${CHROMIUM_PATH}: apt-get install -y chromium (or set CHROMIUM_PATH); SKIP_UI_TEST=1 skips this test`,
      );
    try {
      // core's own lines (e.g. "Query not found" when the UI stops waiting for a query) stay out of the output
      Runtime.install({
        logger: new DefaultLogger('WARN'),
        telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
      });
    } catch {
      // already installed in this process
    }
    sim = new ReplicateSimulator({ token: 'sim-ui-token' });
    await sim.start();
    server = await startDevServer({ port: await freePort(), uiPort: await freePort() });
    if (server.uiUrl === null) throw new Error('the dev server was started without its UI');
    // Everything stays on 127.0.0.1 (the dev server binds there).
    uiUrl = server.uiUrl.replace('//localhost:', '//127.0.0.1:');
    taskQueue = `ui-test-${randomUUID()}`;
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
    };
    nativeConnection = await NativeConnection.connect({ address: server.address });
    const workflowBundle = await sharedWorkflowBundle();
    const { workflowsPath: _path, ...options } = workerOptions(config, nativeConnection);
    worker = await Worker.create({ ...options, workflowBundle });
    // The worker keeps running while the browser looks: the UI's "Current Details" is a query it answers.
    running = worker.run();
    connection = await Connection.connect({ address: server.address });
    client = new Client({ connection, namespace: 'default' });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    await connection?.close();
    await nativeConnection?.close();
    await server?.stop();
    await sim?.stop();
    rmSync(outputDir, { recursive: true, force: true });
  });

  it('finds a finished run by search attribute and shows its summary, status and details', async () => {
    const workflowId = `lighthouse-${randomBytes(4).toString('hex')}`;
    const out: string[] = [];
    const code = await runCli(
      ['run', '--model', MODEL, '--input', JSON.stringify({ prompt: PROMPT }), '--workflow-id', workflowId],
      { client: async () => client, taskQueue, out: (l) => out.push(l), err: (l) => out.push(l) },
    );
    expect(code, out.join('\n')).toBe(EXIT.ok);
    const result = await client.workflow.getHandle<typeof runPrediction>(workflowId).result();
    expect(result.status).toBe('succeeded');
    await waitForVisibility(workflowId);

    const { page, blocked } = await newLocalPage(browser!, { viewport: { width: 1400, height: 900 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));

    // The list, filtered by the query (the UI turns it into filter chips).
    await page.goto(`${uiUrl}/namespaces/default/workflows?query=${encodeURIComponent(QUERY)}`);
    const link = page.getByRole('link', { name: workflowId, exact: true });
    await link.waitFor(UI_WAIT);
    await expect.poll(() => page.url()).toContain('query=');
    await page.getByText('ReplicateModel', { exact: false }).first().waitFor(UI_WAIT);

    // The run's page: status in the header, then the search attributes it upserted.
    await link.click();
    await page.waitForURL(new RegExp(`/workflows/${workflowId}/`), UI_WAIT);
    await page.getByTestId('workflow-id-heading').getByText(workflowId).waitFor(UI_WAIT);
    const status = page.getByTestId('execution-status');
    await status.waitFor(UI_WAIT);
    expect((await status.innerText()).trim().toLowerCase()).toBe('completed');

    await page.getByTestId('search-attributes-tab').click();
    for (const text of ['ReplicateStatus', 'succeeded', 'ReplicatePredictionId', result.id]) {
      await page.getByText(text, { exact: false }).first().waitFor(UI_WAIT);
    }

    // User Metadata: the static summary and details set by `run`, and the workflow's current details.
    // Each is markdown rendered in its own iframe.
    await page.getByTestId('user-metadata-tab').click();
    await page.waitForURL(/\/user-metadata$/, UI_WAIT);
    const summary = page.frameLocator('#user-metadata-summary');
    await summary.getByText(MODEL).waitFor(UI_WAIT);
    expect(await summary.locator('body').innerText()).toContain(PROMPT);

    const details = page.frameLocator('#user-metadata-details');
    await details.getByText('prompt:', { exact: false }).first().waitFor(UI_WAIT);
    await details.getByText(PROMPT, { exact: false }).first().waitFor(UI_WAIT);
    const modelLink = details.getByRole('link', { name: MODEL });
    expect(await modelLink.getAttribute('href', UI_WAIT)).toBe(`https://replicate.com/${MODEL}`);
    await details.getByText('Ceiling:').waitFor(UI_WAIT);

    // Current details are the answer to a query the worker gives by replaying the closed run. A query that fails
    // once (a worker starved of CPU, or the SDK's rare failure of a query on a just-closed run, seen once in CI)
    // leaves the panel empty until the page asks again: reload once, as a person would.
    const current = page.frameLocator('#user-metadata-current-details');
    const shown = await current
      .getByText('succeeded', { exact: true })
      .waitFor({ timeout: 15_000 })
      .then(
        () => true,
        () => false,
      );
    if (!shown) {
      await page.reload();
      await current.getByText('succeeded', { exact: true }).waitFor(UI_WAIT);
    }
    await current.getByText(result.id).waitFor(UI_WAIT);
    expect(await current.locator('body').innerText()).toMatch(/\d+ polls?/);

    await saveScreenshot(page);

    // The event history reads like a story: the create activity, then polls (local activities) between timers,
    // each with its summary.
    await page.setViewportSize({ width: 1400, height: 2400 }); // the table renders only the rows in view
    await page.goto(page.url().replace(/\/user-metadata$/, '/history'));
    await page.getByText('Workflow Execution Completed').filter({ visible: true }).first().waitFor(UI_WAIT);
    const story = await page.locator('body').innerText();
    for (const text of [
      'Activity Task Scheduled',
      `create prediction for ${MODEL}`,
      'Local Activity',
      'getPrediction',
      `poll 1: get prediction ${result.id}`,
      'Timer Started',
      'wait 3.0s before poll 1',
    ]) {
      expect(story).toContain(text);
    }
    expect(pageErrors).toEqual([]);
    // Only the UI's news feed (newsfeed.temporal.io) tries to leave the machine; it is aborted.
    expect(blocked.filter((url) => !url.startsWith('https://newsfeed.temporal.io/'))).toEqual([]);
    await page.context().close();
  }, 120_000);

  it("shows a pipeline's static and current details: each step's status, runs, elapsed time and cost", async () => {
    const pipelineId = `poster-ui-${randomBytes(4).toString('hex')}`;
    const out: string[] = [];
    const code = await runCli(
      [
        'pipeline',
        'run',
        path.join(PROJECT_ROOT, 'examples', 'poster.yaml'),
        '--input',
        `prompt=${PROMPT}`,
        '--pipeline-id',
        pipelineId,
      ],
      { client: async () => client, taskQueue, out: (l) => out.push(l), err: (l) => out.push(l) },
    );
    expect(code, out.join('\n')).toBe(EXIT.ok);

    const { page } = await newLocalPage(browser!, { viewport: { width: 1400, height: 1200 } });
    await page.goto(`${uiUrl}/namespaces/default/workflows/${pipelineId}`);
    await page.getByTestId('workflow-id-heading').getByText(pipelineId).waitFor(UI_WAIT);
    await page.getByTestId('user-metadata-tab').click();
    await page.waitForURL(/\/user-metadata$/, UI_WAIT);
    const details = page.frameLocator('#user-metadata-details');
    await details.getByText('Pipeline:').waitFor(UI_WAIT);
    for (const text of ['google/imagen-4-ultra ×2', 'nightmareai/real-esrgan', PROMPT])
      await details.getByText(text, { exact: false }).first().waitFor(UI_WAIT);
    // the current details a closed run's query answers (reloaded once if that query fails, as in the test above)
    const current = page.frameLocator('#user-metadata-current-details');
    const shown = await current
      .getByText('3 of 3 steps done', { exact: false })
      .waitFor({ timeout: 15_000 })
      .then(
        () => true,
        () => false,
      );
    if (!shown) {
      await page.reload();
      await current.getByText('3 of 3 steps done', { exact: false }).waitFor(UI_WAIT);
    }
    const text = await current.locator('body').innerText();
    expect(text).not.toContain('No Current Details');
    // the UI's markdown renders 2/2 with a fraction slash
    expect(text).toMatch(
      /generate: succeeded · 2[/⁄]2 predictions succeeded · [\d.]+s · [\d.]+s predict_time ~\$/,
    );
    expect(text).toMatch(/upscale: succeeded · 2[/⁄]2 predictions succeeded/);
    expect(text).toMatch(/caption: succeeded · 1[/⁄]1 prediction succeeded/);
    await page.context().close();
  }, 120_000);
});

/** The list page reads visibility, which may lag the close of the run by a moment. */
async function waitForVisibility(workflowId: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    for await (const execution of client.workflow.list({ query: QUERY })) {
      if (execution.workflowId === workflowId) return;
    }
    if (Date.now() > deadline) throw new Error(`${workflowId} never matched ${QUERY}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function saveScreenshot(page: Page): Promise<void> {
  mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true, animations: 'disabled' });
  const png = readFileSync(SCREENSHOT);
  expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
  expect(png.length).toBeGreaterThan(30_000);
}
