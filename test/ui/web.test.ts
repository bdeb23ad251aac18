/**
 * The web page (`replicate-temporal web`) in a real browser: headless Chromium (Debian's, driven by playwright-core)
 * against a dev server, the simulator and a worker. It opens the home page, follows a running pipeline, sees a step
 * go from processing to succeeded without a reload (and measures how long after the workflow knew it), sees the
 * kept images drawn, cancels a run and approves a step from the page; a model's `<script>` output shows as text
 * and runs nothing; a path out of the output store, a POST without its CSRF token and a page without its sign-in
 * are refused. UPDATE_SCREENSHOT=1 writes docs/web-home.png and docs/web-pipeline.png.
 *
 * Needs Debian's Chromium (`apt-get install -y chromium`); SKIP_UI_TEST=1 skips it.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPipeline } from '../../src/client/pipeline';
import { PROJECT_ROOT } from '../../src/dev/binaries';
import type { PipelineSpec } from '../../src/shared/pipeline';
import { progressQuery } from '../../src/workflows';
import { startWebServer, type RunningWebServer } from '../../src/web/server';
import { launchChromium, newLocalPage } from '../helpers/browser';
import { startTestbed, type Testbed } from '../helpers/testbed';
import type { Decision } from './fixtures/approval-workflow';

const shots = (name: string) =>
  process.env.UPDATE_SCREENSHOT
    ? path.join(PROJECT_ROOT, 'docs', `web-${name}.png`)
    : path.join(tmpdir(), `web-${name}-${process.pid}.png`);
const WAIT = { timeout: 30_000 };
const TOKEN = 'web-test-token-5d1c0e7a9b';

const SPEC: PipelineSpec = {
  name: 'poster',
  inputs: { prompt: 'a lighthouse at dusk' },
  failure: 'fail-fast',
  prices: { 'test/painter': 0.0023, 'nightmareai/real-esrgan': 0.000225, 'salesforce/blip': 0.000225 },
  steps: {
    generate: {
      model: 'test/painter',
      count: 2,
      input: { prompt: '{{ inputs.prompt }}' },
      // a run's state changes when it polls: polls often enough to see it processing
      polling: { initialIntervalMs: 500, multiplier: 1, maxIntervalMs: 500 },
    },
    upscale: {
      model: 'nightmareai/real-esrgan',
      foreach: '{{ steps.generate.outputs }}',
      input: { image: '{{ item }}', scale: 2 },
    },
    caption: { model: 'salesforce/blip', input: { image: '{{ steps.upscale.outputs[0] }}' } },
  },
};

let bed: Testbed;
let web: RunningWebServer;
let browser: Browser;
let approvalWorker: Worker;
let approvalRunning: Promise<void>;
const approvalQueue = `web-approval-${randomUUID()}`;

describe.skipIf(process.env.SKIP_UI_TEST === '1')('the web page', () => {
  beforeAll(async () => {
    bed = await startTestbed();
    // slow enough to be seen processing; its pictures are real PNGs of the prompt
    bed.sim.setModel('test/painter', { startDelayMs: 300, durationMs: 6_000, picture: 'prompt' });
    bed.sim.setModel('test/xss', {
      durationMs: 200,
      output: '<script>window.__pwned = 1</script><b>bold?</b>',
    });
    bed.sim.setModel('test/forever', { outcome: 'never' });
    web = await startWebServer({
      client: bed.client,
      port: 0,
      host: '127.0.0.1',
      outputs: bed.config.outputDir,
      temporalUiUrl: null,
    });
    approvalWorker = await Worker.create({
      connection: bed.env.nativeConnection,
      taskQueue: approvalQueue,
      workflowsPath: path.join(__dirname, 'fixtures', 'approval-workflow.ts'),
    });
    approvalRunning = approvalWorker.run();
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    approvalWorker?.shutdown();
    await approvalRunning;
    await web?.stop();
    await bed?.teardown();
  });

  it('follows a running pipeline from the home page: a step goes processing -> succeeded live, images drawn', async () => {
    const handle = await startPipeline(
      bed.client,
      { spec: SPEC },
      { taskQueue: bed.config.taskQueue, workflowId: `pipeline-poster-${randomUUID().slice(0, 8)}` },
    );
    const { page, blocked } = await newLocalPage(browser, { viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));

    await page.goto(`${web.origin}/`);
    const link = page.getByRole('link', { name: handle.workflowId });
    await link.waitFor(WAIT);
    await link.click();
    await page.waitForURL(`${web.origin}/pipelines/${handle.workflowId}`);
    await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));

    const generate = page.locator('#step-generate h3 .badge');
    await expect.poll(() => generate.textContent(), WAIT).toBe('processing');
    // the page notes when it shows `succeeded`; the test notes when the workflow first answers it
    await page.evaluate(() => {
      const w = window as unknown as { __shownAt?: number };
      const observer = new MutationObserver(() => {
        if (document.querySelector('#step-generate h3 .badge')?.textContent === 'succeeded') {
          w.__shownAt ??= Date.now();
          observer.disconnect();
        }
      });
      observer.observe(document.getElementById('step-generate')!, { childList: true, subtree: true });
    });
    const knownAt = await firstTime(async () => {
      const progress = await handle.query(progressQuery);
      return progress.steps.generate?.status === 'succeeded';
    });
    await expect.poll(() => generate.textContent(), WAIT).toBe('succeeded');
    const shownAt = await page.evaluate(() => (window as unknown as { __shownAt?: number }).__shownAt);
    const latencyMs = shownAt! - knownAt;
    console.log(`web: step succeeded -> shown on the page in ${latencyMs} ms`, web.handler.stats());
    expect(latencyMs).toBeLessThan(2_000);
    expect(
      await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument),
    ).toBe(true);

    // the kept pictures, from the output store, drawn by the browser
    const images = page.locator('#step-generate .outputs img');
    await expect.poll(() => images.count(), WAIT).toBe(2);
    await expect.poll(() => drawn(page, '#step-generate .outputs img'), WAIT).toBe(2);
    for (const src of await images.evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).src)))
      expect(src.startsWith(`${web.origin}/files/`)).toBe(true);

    // the whole pipeline, then its page as the docs show it
    await handle.result();
    await expect.poll(() => page.locator('#summary .badge').first().textContent(), WAIT).toBe('succeeded');
    await expect.poll(() => drawn(page, '#step-upscale .outputs img'), WAIT).toBe(2);
    await page.locator('#step-caption .outputs pre').first().waitFor(WAIT);
    await expect.poll(() => page.locator('[data-live-state]').textContent(), WAIT).toBe('final');
    await screenshot(page, 'pipeline');

    // the manifest downloads
    const manifest = await fetch(`${web.origin}/pipelines/${handle.workflowId}/manifest.json`);
    expect(manifest.headers.get('content-disposition')).toContain('attachment');
    expect(((await manifest.json()) as { files: unknown[] }).files).toHaveLength(4); // 2 pictures, 2 upscales (the caption is text)

    // the home page lists it with its first picture
    await page.goto(`${web.origin}/`);
    const row = page.locator('tr', { has: page.getByRole('link', { name: handle.workflowId }) });
    await expect.poll(() => drawn(page, `tr:has(a[href$="${handle.workflowId}"]) img.thumb`), WAIT).toBe(1);
    expect(await row.locator('.badge').first().textContent()).toBe('succeeded');
    expect(errors).toEqual([]);
    expect(blocked).toEqual([]);
    await page.context().close();
  });

  it('cancels a run from its page', async () => {
    const handle = await bed.start({ model: 'test/forever', input: { prompt: 'never ends' } });
    const { page } = await newLocalPage(browser);
    page.on('dialog', (d) => void d.accept());
    await page.goto(`${web.origin}/runs/${handle.workflowId}`);
    await expect.poll(() => page.locator('#summary .badge').first().textContent(), WAIT).toBe('processing');
    await page.getByRole('button', { name: 'Cancel run' }).click();
    await page.getByText('Cancel requested').waitFor(WAIT);
    await expect.poll(() => page.locator('#summary .badge').first().textContent(), WAIT).toBe('canceled');
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    // and its prediction at Replicate
    const predictionId = (await page.locator('#summary dd code').nth(1).textContent())!;
    expect(predictionId).toMatch(/^[a-z0-9]{20,}$/);
    expect(
      bed.sim.requests.some((r) => r.route === 'predictions.cancel' && r.path.includes(predictionId)),
    ).toBe(true);
    await page.context().close();
  });

  it("shows a model's <script> output as text and runs nothing", async () => {
    const handle = await bed.start({ model: 'test/xss', input: { prompt: 'hi' } });
    await handle.result();
    const { page } = await newLocalPage(browser);
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(`${web.origin}/runs/${handle.workflowId}`);
    const output = page.locator('#outputs pre.text');
    await output.waitFor(WAIT);
    expect(await output.textContent()).toBe('<script>window.__pwned = 1</script><b>bold?</b>');
    expect(await page.locator('#outputs b, #outputs script').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(dialogs).toEqual([]);
    await page.context().close();
  });

  it('approves a step that waits for approval', async () => {
    const handle = await bed.client.workflow.start('runPipeline', {
      taskQueue: approvalQueue,
      workflowId: `pipeline-review-${randomUUID().slice(0, 8)}`,
      args: [{ spec: { name: 'review', steps: { review: { model: 'test/painter', input: {} } } } }],
    });
    const { page } = await newLocalPage(browser);
    await page.goto(`${web.origin}/pipelines/${handle.workflowId}`);
    await expect.poll(() => page.locator('#step-review h3 .badge').textContent(), WAIT).toBe('waiting');
    await page.getByRole('button', { name: 'Approve review' }).click();
    await page.getByText('Approved: the step starts.').waitFor(WAIT);
    const result = (await handle.result()) as { decision: Decision };
    expect(result.decision).toEqual({ step: 'review', approve: true, by: 'web' });
    await page.context().close();
  });

  it('refuses a file path out of the store, and a POST without its CSRF token', async () => {
    for (const bad of [
      '/files/%2e%2e/%2e%2e/etc/passwd',
      '/files/.claims/x.json',
      '/files/a/%2E%2E/b',
      '/files/a%2Fb',
    ])
      expect([403, 404], bad).toContain((await fetch(`${web.origin}${bad}`)).status);
    const handle = await bed.start({ model: 'test/forever', input: { prompt: 'stays' } });
    const url = `${web.origin}/runs/${handle.workflowId}/cancel`;
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    // no token; a token without its cookie; the right pair from another site
    const page = await fetch(`${web.origin}/runs/${handle.workflowId}`);
    const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
    const token = /name="csrf-token" content="([^"]+)"/.exec(await page.text())![1]!;
    const attempts = [
      await fetch(url, { method: 'POST', headers: form, body: '', redirect: 'manual' }),
      await fetch(url, { method: 'POST', headers: form, body: `csrf=${token}`, redirect: 'manual' }),
      await fetch(url, {
        method: 'POST',
        headers: { ...form, cookie, origin: 'http://evil.example' },
        body: `csrf=${token}`,
        redirect: 'manual',
      }),
    ];
    expect(attempts.map((r) => r.status)).toEqual([403, 403, 403]);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    // the same pair from the page itself is accepted
    const ok = await fetch(url, {
      method: 'POST',
      headers: { ...form, cookie },
      body: `csrf=${token}`,
      redirect: 'manual',
    });
    expect(ok.status).toBe(303);
    await expect.poll(async () => (await handle.describe()).status.name, WAIT).toBe('CANCELLED');
  });

  it('with WEB_AUTH_TOKEN: the sign-in form or a bearer token, nothing without', async () => {
    const guarded = await startWebServer({
      client: bed.client,
      port: 0,
      host: '127.0.0.1',
      outputs: bed.config.outputDir,
      authToken: TOKEN,
    });
    try {
      expect((await fetch(`${guarded.origin}/`, { redirect: 'manual' })).status).toBe(303);
      expect((await fetch(`${guarded.origin}/events/home`)).status).toBe(401);
      expect((await fetch(`${guarded.origin}/files/x/y.png`)).status).toBe(401);
      const bearer = await fetch(`${guarded.origin}/`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(bearer.status).toBe(200);
      const { page } = await newLocalPage(browser);
      await page.goto(`${guarded.origin}/`);
      await page.waitForURL(/\/login/);
      await page.getByLabel('Token (WEB_AUTH_TOKEN)').fill('not-the-token-at-all');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('That is not the token.').waitFor(WAIT);
      await page.getByLabel('Token (WEB_AUTH_TOKEN)').fill(TOKEN);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Generations' }).waitFor(WAIT);
      const session = (await page.context().cookies()).find((c) => c.name === 'rt_session')!;
      expect(session.httpOnly).toBe(true);
      expect(session.sameSite).toBe('Strict');
      await page.context().close();
    } finally {
      await guarded.stop();
    }
  });

  it('lists runs and pipelines newest first, filters them by status, model and id', async () => {
    const running = await startPipeline(
      bed.client,
      { spec: SPEC, inputs: { prompt: 'a red bicycle in the rain' } },
      { taskQueue: bed.config.taskQueue, workflowId: `pipeline-poster-${randomUUID().slice(0, 8)}` },
    );
    const { page } = await newLocalPage(browser, { viewport: { width: 1280, height: 900 } });
    await page.goto(`${web.origin}/`);
    // a running pipeline's row says what its steps do, live
    const row = page.locator(`tr:has(a[href$="${running.workflowId}"])`);
    await expect.poll(() => row.locator('.step-summary .badge').first().textContent(), WAIT).toBe('running');
    const started = await page.$$eval('table.list time', (ts) =>
      ts.map((t) => (t as HTMLTimeElement).dateTime),
    );
    expect(started.length).toBeGreaterThanOrEqual(4);
    expect([...started].sort().reverse()).toEqual(started);
    await screenshot(page, 'home');

    await page.getByLabel('Status').selectOption('canceled');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/status=canceled/);
    const statuses = await page.locator('table.list tbody tr td:nth-child(3) .badge').allTextContents();
    expect(statuses.length).toBeGreaterThanOrEqual(2); // the runs canceled above
    expect(new Set(statuses)).toEqual(new Set(['canceled']));

    await page.goto(`${web.origin}/?model=${encodeURIComponent('test/xss')}`);
    await expect.poll(() => page.locator('table.list tbody tr').count(), WAIT).toBe(1);
    const id = (await page.locator('table.list tbody code').first().textContent())!;
    await page.goto(`${web.origin}/?q=${encodeURIComponent(id)}`); // a prediction id
    await expect.poll(() => page.locator('table.list tbody tr').count(), WAIT).toBe(1);
    expect(await page.locator('table.list tbody code').first().textContent()).toBe(id);
    await page.context().close();
    await running.cancel();
  });
});

/** When `check` first answered true (ms since the epoch), asked every 100 ms. */
async function firstTime(check: () => Promise<boolean>): Promise<number> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return Date.now();
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('never became true');
}

/** How many images matching `selector` the browser has drawn (decoded, with a width). */
function drawn(page: Page, selector: string): Promise<number> {
  return page.$$eval(
    selector,
    (imgs) =>
      imgs.filter((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0).length,
  );
}

async function screenshot(page: Page, name: string): Promise<void> {
  const file = shots(name);
  mkdirSync(path.dirname(file), { recursive: true });
  await page.screenshot({ path: file, fullPage: true, animations: 'disabled' });
  expect(readFileSync(file).subarray(1, 4).toString()).toBe('PNG');
}
