/**
 * The web page (`replicate-temporal web`) in a real browser: headless Chromium (Debian's, driven by playwright-core)
 * against a dev server, the simulator and a worker. It opens the home page, follows a running pipeline, sees a step
 * go from processing to succeeded without a reload (and measures how long after the workflow knew it), sees the
 * kept images drawn, cancels a run, approves and rejects the approval steps of a real pipeline, and reruns a failed
 * pipeline from a step (no prediction for the steps it reuses); a model's `<script>` output shows as text and runs
 * nothing; a path out of the output store, a POST without its CSRF token, a decision the pipeline refuses, a bad
 * rerun and a page without its sign-in are refused. UPDATE_SCREENSHOT=1 writes docs/web-home.png and
 * docs/web-pipeline.png.
 *
 * Needs Debian's Chromium (`apt-get install -y chromium`); SKIP_UI_TEST=1 skips it.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { approveStep } from '../../src/client/approve';
import { startPipeline } from '../../src/client/pipeline';
import { PROJECT_ROOT } from '../../src/dev/binaries';
import type { PipelineSpec } from '../../src/shared/pipeline';
import { progressQuery, type PipelineResult } from '../../src/workflows';
import { startWebServer, type RunningWebServer } from '../../src/web/server';
import { launchChromium, newLocalPage } from '../helpers/browser';
import { startTestbed, type Testbed } from '../helpers/testbed';

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

/** Drafts, a person looks at them, the upscale, a last look before publishing (examples/review.yaml, shorter). */
const REVIEW: PipelineSpec = {
  name: 'review',
  inputs: { prompt: 'a lighthouse at dusk' },
  failure: 'fail-fast',
  timeout: '30m',
  steps: {
    drafts: { model: 'test/drafter', count: 2, input: { prompt: '{{ inputs.prompt }}' } },
    review: {
      approve: {
        message: 'look at the drafts before paying for the upscale',
        timeout: '10m',
        onTimeout: 'reject',
      },
      input: {},
      needs: ['drafts'],
    },
    upscale: {
      model: 'test/upscaler',
      foreach: '{{ steps.drafts.outputs }}',
      input: { image: '{{ item }}', scale: 2 },
      needs: ['review'],
    },
    publish: {
      approve: { message: 'publish the upscales?', timeout: '10m', onTimeout: 'reject' },
      input: {},
      needs: ['upscale'],
    },
  },
};

let bed: Testbed;
let web: RunningWebServer;
let browser: Browser;

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
    bed.sim.setModel('test/drafter', { durationMs: 500, picture: 'prompt' });
    bed.sim.setModel('test/sketcher', { durationMs: 500, picture: 'prompt' });
    bed.sim.setModel('test/upscaler', { durationMs: 500, picture: 'upscale' });
    bed.sim.setModel('test/fragile', { durationMs: 300, outcome: 'failed', error: 'CUDA out of memory' });
    // the real rerunPipeline and the command lines of the package: the page's defaults
    web = await startWebServer({
      client: bed.client,
      port: 0,
      host: '127.0.0.1',
      outputs: bed.config.outputDir,
      temporalUiUrl: null,
    });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
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

  it("approves and rejects a real pipeline's approval steps; refuses what the pipeline would, changing nothing", async () => {
    const handle = await startPipeline(
      bed.client,
      { spec: REVIEW },
      { taskQueue: bed.config.taskQueue, workflowId: `pipeline-review-${randomUUID().slice(0, 8)}` },
    );
    const id = handle.workflowId;
    const { page } = await newLocalPage(browser);
    await page.goto(`${web.origin}/pipelines/${id}`);
    await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));
    const badge = (step: string) => page.locator(`#step-${step} h3 .badge`).textContent();
    const sameDocument = () =>
      page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument);
    await expect.poll(() => badge('review'), WAIT).toBe('waiting');
    expect(await sameDocument()).toBe(true);
    const review = page.locator('#step-review');
    expect(await review.locator('dd').first().textContent()).toBe(
      'look at the drafts before paying for the upscale',
    );
    expect(await review.locator('.approval p').first().innerText()).toMatch(
      /^Waits for a decision: asked (just now|\d+ s ago); if nobody decides, it is rejected in (9|10) min\.$/,
    );
    expect(await review.locator('.command code').textContent()).toBe(
      `npx replicate-temporal pipeline approve ${id} review [--reject] [--reason TEXT]`,
    );

    // what the pipeline refuses is shown, and changes nothing
    expect(await post(page, `/pipelines/${id}/approve`, { step: 'nope', approve: 'true' })).toEqual({
      status: 409,
      alert: `pipeline ${id} has no step 'nope'; its approval steps: review, publish; nothing was changed`,
    });
    expect(await post(page, `/pipelines/${id}/approve`, { step: 'drafts', approve: 'true' })).toEqual({
      status: 409,
      alert: `step 'drafts' of pipeline ${id} is a prediction step, not an approval step; nothing was changed`,
    });
    expect(await post(page, `/pipelines/${id}/approve`, { step: 'publish', approve: 'true' })).toEqual({
      status: 409,
      alert: `step 'publish' is not waiting for a decision (it is pending); approve it once it waits; nothing was changed`,
    });
    expect(
      (await post(page, `/pipelines/${id}/approve`, { step: 'review', approve: 'true' }, { csrf: false }))
        .status,
    ).toBe(403);
    expect(await post(page, `/pipelines/${id}/rerun`, { from: 'drafts' })).toEqual({
      status: 409,
      alert: `pipeline ${id} is still running: rerun it once it has ended`,
    });
    const before = await handle.query(progressQuery);
    expect(before.steps.review).toMatchObject({ status: 'waiting', approval: { decision: null } });
    expect(before.steps.publish!.status).toBe('pending');
    expect(creates('test/upscaler')).toEqual([]);

    // approve from the page: the upscale starts, then the last look waits, live
    await page.getByRole('button', { name: 'Approve review' }).click();
    await page.getByText('Approved: the step succeeds').waitFor(WAIT);
    await expect.poll(() => badge('review'), WAIT).toBe('succeeded');
    expect(await review.locator('.decision').innerText()).toMatch(/^Approved by web (just now|\d+ s ago)\.$/);
    await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));
    await expect.poll(() => badge('publish'), WAIT).toBe('waiting');
    expect(await sameDocument()).toBe(true);

    // reject it, with a reason
    await page.locator('#step-publish').getByLabel('Reason').fill('too dark <b>really</b>');
    await page.getByRole('button', { name: 'Reject publish' }).click();
    await page.getByText('Rejected: the step fails').waitFor(WAIT);
    await expect.poll(() => page.locator('#summary .badge').first().textContent(), WAIT).toBe('failed');
    expect(await badge('publish')).toBe('failed');
    expect(await page.locator('#step-publish .decision').innerText()).toMatch(
      /^Rejected by web (just now|\d+ s ago): too dark <b>really<\/b>$/,
    );

    // what the pipeline recorded: who decided, and no upscale was asked for before the approval
    const report = await failedReport(id);
    const approved = report.steps.review!.approval!.decision!;
    expect(approved).toMatchObject({ approved: true, by: 'web', reason: null });
    expect(report.steps.publish!.approval!.decision).toMatchObject({
      approved: false,
      by: 'web',
      reason: 'too dark <b>really</b>',
    });
    const upscales = creates('test/upscaler');
    expect(upscales).toHaveLength(2);
    for (const r of upscales) expect(r.at).toBeGreaterThanOrEqual(Date.parse(approved.at));
    // once it has ended, nothing waits
    expect(await post(page, `/pipelines/${id}/approve`, { step: 'publish', approve: 'true' })).toEqual({
      status: 409,
      alert: `pipeline ${id} has ended: nothing waits for a decision`,
    });
    await page.context().close();
  });

  it('reruns a failed pipeline from a step: the steps before it reused, no prediction made for them', async () => {
    const spec: PipelineSpec = {
      ...REVIEW,
      steps: {
        ...REVIEW.steps,
        drafts: { ...REVIEW.steps.drafts!, model: 'test/sketcher' },
        upscale: { ...REVIEW.steps.upscale!, model: 'test/fragile' },
      },
    };
    const failed = await startPipeline(
      bed.client,
      { spec },
      { taskQueue: bed.config.taskQueue, workflowId: `pipeline-review-${randomUUID().slice(0, 8)}` },
    );
    await expect
      .poll(async () => (await failed.query(progressQuery)).steps.review!.status, WAIT)
      .toBe('waiting');
    await approveStep(bed.client, failed.workflowId, {
      step: 'review',
      approve: true,
      by: 'ana',
      reason: 'the left one',
    });
    const drafts = (await failedReport(failed.workflowId)).steps.drafts!.predictionIds;
    expect(
      creates('test/sketcher')
        .map((r) => r.predictionId)
        .sort(),
    ).toEqual([...drafts].sort());
    expect(creates('test/fragile')).toHaveLength(2);
    // the model works again
    bed.sim.setModel('test/fragile', { durationMs: 300, picture: 'upscale' });

    const { page } = await newLocalPage(browser, { viewport: { width: 1280, height: 900 } });
    await page.goto(`${web.origin}/pipelines/${failed.workflowId}`);
    await page.locator('#summary .badge', { hasText: 'failed' }).waitFor(WAIT);
    expect(await page.locator('#actions .command code').first().textContent()).toBe(
      `npx replicate-temporal pipeline rerun ${failed.workflowId} [--from STEP]`,
    );
    // a bad `from`, or no CSRF token: refused, nothing started
    const refusedAt = new Date();
    expect(await post(page, `/pipelines/${failed.workflowId}/rerun`, { from: 'nope' })).toEqual({
      status: 400,
      alert: `from: "nope" is not a step of pipeline ${failed.workflowId}; its steps are drafts, review, upscale, publish`,
    });
    expect(
      (await post(page, `/pipelines/${failed.workflowId}/rerun`, { from: 'upscale' }, { csrf: false }))
        .status,
    ).toBe(403);

    await page.getByRole('button', { name: 'Rerun from upscale' }).click();
    await page.getByText('Rerun started').waitFor(WAIT);
    const rerunId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
    expect(rerunId).not.toBe(failed.workflowId);
    expect(await page.locator('#summary').innerText()).toMatch(
      new RegExp(`Rerun of\\s+${failed.workflowId} from step upscale`),
    );
    const badge = (step: string) => page.locator(`#step-${step} h3 .badge`).textContent();
    await expect.poll(() => badge('publish'), WAIT).toBe('waiting');
    expect(await badge('drafts')).toBe('reused');
    expect(await badge('review')).toBe('reused');
    expect(await badge('upscale')).toBe('succeeded');
    expect(await page.locator('#step-drafts .reused').innerText()).toBe(
      `Reused: 2 of 2 runs from ${failed.workflowId} (step drafts, ${drafts.join(', ')}), no prediction created, $0`,
    );
    expect(await page.locator('#step-review .decision').innerText()).toMatch(
      /^Approved by ana .+: the left one$/,
    );
    // the reused pictures are this pipeline's copies, drawn
    await expect.poll(() => drawn(page, '#step-drafts .outputs img'), WAIT).toBe(2);
    await expect.poll(() => drawn(page, '#step-upscale .outputs img'), WAIT).toBe(2);
    for (const src of await page
      .locator('#step-drafts .outputs img')
      .evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).src)))
      expect(src).toContain(`/files/${rerunId}/`);
    // Replicate was asked for the upscales again, never for the drafts
    expect(creates('test/sketcher')).toHaveLength(2);
    expect(creates('test/fragile')).toHaveLength(4);
    await screenshot(page, 'pipeline');

    await page.getByRole('button', { name: 'Approve publish' }).click();
    await expect.poll(() => page.locator('#summary .badge').first().textContent(), WAIT).toBe('succeeded');
    // one pipeline started since the refusals: the rerun
    const started: string[] = [];
    await expect
      .poll(async () => {
        started.length = 0;
        for await (const w of bed.client.workflow.list({
          query: `WorkflowType = 'runPipeline' AND StartTime >= '${refusedAt.toISOString()}'`,
        }))
          started.push(w.workflowId);
        return started;
      }, WAIT)
      .toEqual([rerunId]);
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

/** The create requests the simulator saw for `model` (by the model's own route, as runs create). */
function creates(model: string) {
  return bed.sim.requests.filter(
    (r) => r.route === 'models.predictions.create' && r.path === `/v1/models/${model}/predictions`,
  );
}

/**
 * POST a form from the page (its cookie; its CSRF token unless `csrf: false`), as its buttons do: the answer's
 * status and the alert of the page it shows.
 */
async function post(
  page: Page,
  path: string,
  fields: Record<string, string>,
  options: { csrf?: boolean } = {},
): Promise<{ status: number; alert: string | null }> {
  return page.evaluate(
    async ({ path, fields, csrf }) => {
      const body = new URLSearchParams(fields);
      if (csrf) body.set('csrf', document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')!.content);
      const res = await fetch(path, { method: 'POST', body, redirect: 'manual' });
      const shown = new DOMParser().parseFromString(await res.text(), 'text/html');
      return { status: res.status, alert: shown.querySelector('[role="alert"]')?.textContent ?? null };
    },
    { path, fields, csrf: options.csrf !== false },
  );
}

/** The report a failed pipeline carries in its failure's details. */
async function failedReport(workflowId: string): Promise<PipelineResult> {
  const error = await bed.client.workflow
    .getHandle(workflowId)
    .result()
    .then(
      () => null,
      (e: unknown) => e,
    );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  return (error as WorkflowFailedError & { cause: { details: PipelineResult[] } }).cause.details[0]!;
}

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
