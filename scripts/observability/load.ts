/**
 * The scripted load behind docs/observability-dashboard.png: a few minutes of predictions through two workers (one
 * with webhooks, one polling) against the simulator, with the events every panel is about: successes on three
 * models, a bad model version that starts failing halfway, a 429 burst, lost create answers (adoptions), runs hitting
 * their ceiling, runs canceled, runs terminated by hand whose jobs the reconciler then cancels (orphans), webhooks
 * delivered twice and forged ones rejected, a short Replicate outage that aborts jobs. Bounded in count and time.
 */
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { ReplicateSimulator, Faults } from '../../simulator';
import { cancelPrediction, startPrediction } from '../../src/client';
import type { PredictionRequest } from '../../src/shared/types';

export const MODELS = {
  fast: 'black-forest-labs/flux-schnell',
  sdxl: 'stability-ai/sdxl',
  upscaler: 'acme/upscaler',
  video: 'acme/video-gen',
} as const;

export interface LoadOptions {
  client: Client;
  sim: ReplicateSimulator;
  /** [with webhooks, polling] */
  taskQueues: [string, string];
  /** the webhook receiver's URL (forged deliveries go there) */
  webhookUrl: string;
  seconds: number;
  log: (line: string) => void;
}

export interface LoadReport {
  started: number;
  canceled: number;
  terminated: number;
  forgedWebhooks: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function setUpModels(sim: ReplicateSimulator): void {
  sim.setModel(MODELS.fast, { startDelayMs: 300, durationMs: 1_500 });
  sim.setModel(MODELS.sdxl, { startDelayMs: 800, durationMs: 5_000, output: '$files:2' });
  sim.setModel(MODELS.upscaler, { startDelayMs: 500, durationMs: 3_000 });
  sim.setModel(MODELS.video, { startDelayMs: 1_000, durationMs: 60_000 });
}

export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const { client, sim, taskQueues, log } = options;
  const report: LoadReport = { started: 0, canceled: 0, terminated: 0, forgedWebhooks: 0 };
  const baseFaults: Faults = { webhookDuplicateRate: 0.25 };
  sim.setFaults(baseFaults);
  const pending: Promise<unknown>[] = [];
  const start = async (model: string, extra: { timeout?: string; queue?: number } = {}) => {
    const queue = taskQueues[extra.queue ?? report.started % 2]!;
    const request: PredictionRequest = { model, input: { prompt: 'a lighthouse at dusk' } };
    report.started++;
    return startPrediction(client, request, {
      taskQueue: queue,
      timeout: extra.timeout ?? '5m',
      workflowId: `obs-${model.split('/')[1]}-${randomBytes(4).toString('hex')}`,
    });
  };
  const at = (second: number, what: string, action: () => Promise<unknown>) =>
    pending.push(
      sleep(second * 1000)
        .then(() => log(`t=${second}s ${what}`))
        .then(action)
        .catch((error: unknown) => log(`t=${second}s ${what} failed: ${(error as Error).message}`)),
    );

  const s = options.seconds;
  const t = (fraction: number) => Math.round(s * fraction);
  at(t(0.15), 'a 429 burst: the next 40 requests are rate limited', async () =>
    sim.setFaults({ ...baseFaults, rateLimitNext: 40 }),
  );
  at(t(0.3), 'lost create answers for 15 s (the retried creates adopt the jobs)', async () => {
    sim.setFaults({ ...baseFaults, resetAfterStoreRate: 0.5 });
    await sleep(15_000);
    sim.setFaults(baseFaults);
  });
  at(t(0.35), '3 video runs with a 25 s ceiling (they time out)', async () => {
    for (let i = 0; i < 3; i++) await start(MODELS.video, { timeout: '25s' });
  });
  at(t(0.4), 'a bad upscaler version: its jobs fail from now on', async () =>
    sim.setModel(MODELS.upscaler, { startDelayMs: 500, durationMs: 2_000, outcome: 'failed' }),
  );
  at(t(0.45), '2 video runs terminated by hand while their jobs run (orphans)', async () => {
    const handles = [await start(MODELS.video, { queue: 1 }), await start(MODELS.video, { queue: 1 })];
    await sleep(8_000);
    for (const handle of handles) await handle.terminate('observability demo: terminated by hand');
    report.terminated += handles.length;
    await sleep(8_000);
    log('the reconciler runs (apply, 5 s grace)');
    await client.workflow.execute('reconcileOrphans', {
      taskQueue: taskQueues[1],
      workflowId: `obs-reconcile-${randomBytes(3).toString('hex')}`,
      args: [{ apply: true, graceSeconds: 5, lookbackMinutes: 30 }],
    });
  });
  at(t(0.55), '5 forged webhooks (bad signature)', async () => {
    for (let i = 0; i < 5; i++) {
      await fetch(`${options.webhookUrl}?workflow=obs-forged-${i}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': `msg_forged_${i}`,
          'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
          'webhook-signature': `v1,${randomBytes(32).toString('base64')}`,
        },
        body: JSON.stringify({ id: `forged${i}`, status: 'succeeded' }),
      }).catch(() => undefined);
      report.forgedWebhooks++;
    }
  });
  at(t(0.62), 'a short Replicate outage: sdxl jobs abort for 15 s', async () => {
    sim.setModel(MODELS.sdxl, { startDelayMs: 800, durationMs: 2_000, outcome: 'aborted' });
    await sleep(15_000);
    sim.setModel(MODELS.sdxl, { startDelayMs: 800, durationMs: 5_000, output: '$files:2' });
  });
  at(t(0.75), 'a second 429 burst (30 requests)', async () =>
    sim.setFaults({ ...baseFaults, rateLimitNext: 30 }),
  );
  at(t(0.8), 'the upscaler fixed', async () =>
    sim.setModel(MODELS.upscaler, { startDelayMs: 500, durationMs: 3_000 }),
  );

  // the steady traffic: about 0.9 runs a second, every 4th sdxl run canceled after 2 s
  const until = Date.now() + s * 1000;
  let tick = 0;
  while (Date.now() < until) {
    tick++;
    const runs: Promise<unknown>[] = [start(MODELS.fast)];
    if (tick % 2 === 0) runs.push(start(MODELS.upscaler));
    if (tick % 3 === 0)
      runs.push(
        start(MODELS.sdxl).then(async (handle) => {
          if (tick % 12 !== 0) return;
          await sleep(2_000);
          await cancelPrediction(client, handle.workflowId);
          report.canceled++;
        }),
      );
    pending.push(
      ...runs.map((p) => p.catch((error: unknown) => log(`start failed: ${(error as Error).message}`))),
    );
    await sleep(1_000);
  }
  await Promise.all(pending);
  return report;
}
