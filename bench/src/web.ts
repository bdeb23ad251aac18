/**
 * `npm run bench:web -- [--pages 50] [--seconds 60] [--out FILE]`: what the web page costs Temporal, and how soon it
 * shows what a workflow knows, in one run on 127.0.0.1 (a dev server, the simulator, a worker and the page in this
 * process).
 *
 * 1. `idle`: N pipelines run (one step each, its run processing for the whole bench), no page open.
 * 2. `pages`: the same, with each pipeline's page loaded once and its live stream kept open (what a browser tab
 *    does): Temporal calls per second by the page, the dev server's CPU, against `idle`.
 * 3. `latency`: with the N pages still open, 5 more pipelines whose step ends after ~4 s, each page open; per
 *    pipeline, the time from the first `progress` query answering the step `succeeded` (asked every 100 ms: the
 *    workflow knows) to the live stream's event that shows it (the page shows).
 *
 * Writes bench/results/<date>-web.json and prints a summary.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from '@temporalio/worker';
import { startPipeline } from '../../src/client/pipeline';
import type { PipelineSpec } from '../../src/shared/pipeline';
import { progressQuery } from '../../src/workflows';
import { workerOptions } from '../../src/worker';
import { startWebServer, type RunningWebServer } from '../../src/web';
import { workerConfig } from './compare';
import { startBenchEnv } from './env';
import { percentiles, readProc } from './lib';

const USAGE = 'usage: npm run bench:web -- [--pages 50] [--seconds 60] [--out FILE]';

/** A live stream, as a tab holds it: every `regions` event with when it arrived. */
interface Stream {
  events: { at: number; regions: Record<string, string> }[];
  close(): void;
}

function openStream(url: string): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const events: Stream['events'] = [];
    const req = get(url, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`${url}: ${res.statusCode}`));
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!block.startsWith('event: regions')) continue;
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (data) events.push({ at: Date.now(), regions: JSON.parse(data) as Record<string, string> });
        }
      });
      resolve({ events, close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

function spec(name: string, model: string, polling?: PipelineSpec['steps'][string]['polling']): PipelineSpec {
  return {
    name,
    inputs: {},
    failure: 'fail-fast',
    steps: {
      paint: { model, input: { prompt: 'a lighthouse at dusk' }, ...(polling ? { polling } : {}) },
      caption: { model: 'salesforce/blip', input: { image: '{{ steps.paint.outputs[0] }}' } },
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      pages: { type: 'string', default: '50' },
      seconds: { type: 'string', default: '60' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void console.log(USAGE);
  const pages = Number(values.pages);
  const seconds = Number(values.seconds);
  const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

  const env = await startBenchEnv(log);
  const taskQueue = 'bench-web';
  const { workflowsPath: _path, ...options } = workerOptions(workerConfig(env, taskQueue, null), env.native);
  const worker = await Worker.create({
    ...options,
    interceptors: { ...options.interceptors, workflowModules: [] },
    workflowBundle: await env.bundle(),
  });
  const running = worker.run();
  let web: RunningWebServer | undefined;
  const streams: Stream[] = [];
  try {
    env.sim.setModel('bench/slow', { outcome: 'never' });
    env.sim.setModel('bench/quick', { startDelayMs: 200, durationMs: 4_000 });
    web = await startWebServer({
      client: env.client,
      port: 0,
      host: '127.0.0.1',
      outputs: path.join(env.workDir, 'outputs'),
    });
    const handles = await Promise.all(
      Array.from({ length: pages }, (_, i) =>
        startPipeline(
          env.client,
          { spec: spec('bench', 'bench/slow') },
          { taskQueue, workflowId: `pipeline-bench-${i}` },
        ),
      ),
    );
    log(`${pages} pipelines started; waiting for every step to be processing`);
    for (const h of handles) {
      for (;;) {
        const p = await h.query(progressQuery).catch(() => null);
        const child = p?.steps.paint?.childWorkflowIds[0];
        const state = child
          ? await env.client.workflow
              .getHandle(child)
              .query<{ status: string }>('status')
              .catch(() => null)
          : null;
        if (state?.status === 'processing') break;
        await new Promise((r) => setTimeout(r, 250));
      }
    }

    const measure = async (phase: string) => {
      const server0 = readProc(env.server.pid!)!.cpuSeconds;
      const cpu0 = process.cpuUsage();
      const stats0 = web!.handler.stats();
      const events0 = streams.reduce((n, s) => n + s.events.length, 0);
      log(`${phase}: measuring ${seconds} s`);
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const stats = web!.handler.stats();
      const cpu = process.cpuUsage(cpu0);
      const perSecond = (n: number) => Math.round((n / seconds) * 10) / 10;
      return {
        phase,
        seconds,
        openPages: streams.length,
        serverCpuPercent:
          Math.round(((readProc(env.server.pid!)!.cpuSeconds - server0) / seconds) * 1000) / 10,
        benchProcessCpuPercent: Math.round(((cpu.user + cpu.system) / 1e6 / seconds) * 1000) / 10,
        page: {
          queriesPerSecond: perSecond(stats.queries - stats0.queries),
          describesPerSecond: perSecond(stats.describes - stats0.describes),
          historyReadsPerSecond: perSecond(stats.histories - stats0.histories),
          listsPerSecond: perSecond(stats.lists - stats0.lists),
          longPollsPerSecond: perSecond(stats.longPolls - stats0.longPolls),
          readMsAverage: stats.readMsAverage,
          readMsMax: stats.readMsMax,
          liveEventsPerSecond: perSecond(streams.reduce((n, s) => n + s.events.length, 0) - events0),
        },
      };
    };

    const idle = await measure('idle');
    log(`idle: dev server ${idle.serverCpuPercent}% CPU`);
    for (const h of handles) {
      const page = await fetch(`${web.origin}/pipelines/${h.workflowId}`);
      if (page.status !== 200) throw new Error(`${h.workflowId}: page ${page.status}`);
      await page.text();
      streams.push(await openStream(`${web.origin}/events/pipelines/${h.workflowId}`));
    }
    const open = await measure(`${pages} pages`);
    log(`${pages} pages: dev server ${open.serverCpuPercent}% CPU, ${open.page.queriesPerSecond} queries/s`);

    // latency: 5 pipelines whose step ends while every page is open
    const quick = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        startPipeline(
          env.client,
          {
            spec: spec('quick', 'bench/quick', { initialIntervalMs: 500, multiplier: 1, maxIntervalMs: 500 }),
          },
          { taskQueue, workflowId: `pipeline-quick-${i}` },
        ),
      ),
    );
    const quickStreams = await Promise.all(
      quick.map((h) => openStream(`${web!.origin}/events/pipelines/${h.workflowId}`)),
    );
    const shownSucceeded = /^<h3>\s*paint\s*<span class="badge s-succeeded">/;
    const latencies = await Promise.all(
      quick.map(async (h, i) => {
        let knownAt = 0;
        while (!knownAt) {
          const p = await h.query(progressQuery).catch(() => null);
          if (p?.steps.paint?.status === 'succeeded') knownAt = Date.now();
          else await new Promise((r) => setTimeout(r, 100));
        }
        for (;;) {
          const shown = quickStreams[i]!.events.find((e) =>
            shownSucceeded.test(e.regions['step-paint'] ?? ''),
          );
          if (shown) return shown.at - knownAt;
          await new Promise((r) => setTimeout(r, 20));
        }
      }),
    );
    for (const s of quickStreams) s.close();
    const latency = {
      pipelines: latencies.length,
      openPages: pages + quick.length,
      msP50: percentiles(latencies).p50,
      msMax: percentiles(latencies).max,
      ms: latencies,
    };
    log(
      `latency (workflow knows -> live event) with ${latency.openPages} pages: p50 ${latency.msP50} ms, max ${latency.msMax} ms`,
    );

    const result = {
      date: new Date().toISOString(),
      machine: { cpus: (await import('node:os')).cpus().length },
      pages,
      how: 'a running workflow (and its running children) followed by long polls on their histories, queried when they change (at most every 500 ms, at least every 30 s); the home list every 5 s',
      idle,
      open,
      latency,
    };
    const out = values.out ?? path.join('bench', 'results', `${result.date.slice(0, 10)}-web.json`);
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    log(`wrote ${out}`);
  } finally {
    for (const s of streams) s.close();
    await web?.stop();
    worker.shutdown();
    await running;
    await env.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
