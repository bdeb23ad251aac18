/**
 * `compare`: the same N predictions (./mixed.ts: models that run again and again, steady and noisy, 5–120 s) run by
 * (a) a direct loop with the official `replicate` client, (b) our `runPrediction` workflow polling on the plain
 * backoff scaled by the time factor, (b') below factor 1, the unscaled backoff, (c) predictive polling (its worker
 * first runs each model a few times, unmeasured, so it knows their timing), (d) the workflow with webhooks. Each
 * approach runs alone (sequentially) so they do not compete for the 2 cores.
 * `--codec on|both`: the workflow approaches with encryption (`<name>+codec`; both: each right after its plain run),
 * and what the codec cost (bench/src/codec.ts).
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Replicate from 'replicate';
import type { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import type { WorkerConfig } from '../../src/config';
import { DEFAULT_POLLING } from '../../src/shared/polling';
import type { PollingOptions } from '../../src/shared/types';
import { startWebhookReceiver } from '../../src/webhooks';
import { runPrediction } from '../../src/workflows';
import { workerOptions } from '../../src/worker';
import { callsById, simTimes, type BenchEnv } from './env';
import { historyStats, percentiles, rng, type Percentiles } from './lib';
import { startObservability, type Observability, type ObservabilityReport } from './observability';
import { startBenchCodec, type BenchCodec, type CodecMode, type CodecWork } from './codec';

import { ALL_MODELS, makeMixedSpecs, modelRef, registerPool, type PredictionClass, type Spec } from './mixed';

export type { PredictionClass, Spec } from './mixed';

type WorkflowApproach = 'polling' | 'polling-unscaled' | 'predictive' | 'webhooks';

/** Runs of each model the predictive approach's worker sees end before its measured runs. */
export const WARM_UP_RUNS = 4;
export type ApproachName = 'direct' | WorkflowApproach | `${WorkflowApproach}+codec`;

interface Sample {
  spec: Spec;
  ok: boolean;
  error?: string;
  predictionId?: string;
  /** the caller asked (create call / workflow start), epoch ms */
  submittedAt: number;
  /** the caller learned the result, epoch ms */
  learnedAt: number;
  simDurationMs?: number;
  /** the caller asked -> Replicate's created_at (workflow start, its first task, the create's POST) */
  startMs?: number;
  lagMs?: number;
  calls?: number;
  historyEvents?: number;
  workflowTasks?: number;
}

export interface ClassSummary {
  n: number;
  completed: number;
  /** (learned - submitted) / (simulator completed - created) */
  e2eRatio: Percentiles;
  /** learned - simulator completed_at, ms */
  lagMs: Percentiles;
  /** submitted -> simulator created_at, ms: with duration and lag, what end-to-end time is made of */
  startMs: Percentiles;
  /** lag as a % of the prediction's own duration */
  lagPct: Percentiles;
  callsPerPrediction: Percentiles;
  historyEvents: Percentiles | null;
  workflowTasks: Percentiles | null;
  /** per prediction: this approach's end-to-end time / the direct loop's, same prediction */
  vsDirect: Percentiles | null;
  /** per prediction: this approach's end-to-end time minus the direct loop's, ms (the fixed overhead) */
  vsDirectMs: Percentiles | null;
}

export interface ApproachResult {
  approach: ApproachName;
  description: string;
  polling: Required<PollingOptions> | 'webhook-fallback' | 'replicate.wait 500 ms';
  /** predictive: the unmeasured runs its worker saw end first (each model WARM_UP_RUNS times) */
  warmUpRuns?: number;
  wallMs: number;
  /** CPU of the whole bench process over this approach (worker, client, simulator, receiver: all in-process), s */
  cpuSeconds: number;
  byClass: Record<'all' | PredictionClass, ClassSummary>;
  errors: string[];
  /** `+codec` approaches: what the codec did (payloads, bytes, its own time) */
  codec?: CodecWork;
}

/** One workflow approach without and with the codec (`--codec both`): the cost of encryption. */
export interface CodecCost {
  approach: WorkflowApproach;
  /** the bench process over the approach (worker, client, simulator, receiver), s */
  cpuSeconds: { off: number; on: number; ratio: number };
  wallMs: { off: number; on: number };
  /** completion lag (learned - simulator completed_at), all classes */
  lagP50Ms: { off: number; on: number; delta: number };
  lagP95Ms: { off: number; on: number; delta: number };
  codec: CodecWork;
  /** the codec's own time per payload (encrypt or decrypt), µs, and as a share of the approach's CPU */
  codecMicrosPerPayload: number;
  codecShareOfCpu: number;
}

export interface CompareResult {
  scenario: 'compare';
  size: number;
  timeFactor: number;
  seed: number;
  specs: Array<Pick<Spec, 'index' | 'cls' | 'nominalMs' | 'durationMs'>>;
  approaches: ApproachResult[];
  /** `--observability`: what was on, the end-of-run scrape and the spans the OTLP sink received */
  observability: ObservabilityReport;
  /** `--codec`: off, on or both; with both, each workflow approach's cost of encryption */
  codecMode: CodecMode;
  codecCost: CodecCost[] | null;
}

/**
 * `scale`'s specs, each prediction its own model: ~20 % fixed 20 s, ~10 % fixed 60 s, the rest uniform in 5–120 s;
 * all scaled by the time factor.
 */
export function makeSpecs(size: number, timeFactor: number, seed: number, prefix: string): Spec[] {
  const random = rng(seed);
  const n20 = Math.max(1, Math.round(size / 5));
  const n60 = size >= 2 ? Math.max(1, Math.round(size / 10)) : 0;
  return Array.from({ length: size }, (_, index) => {
    const cls: PredictionClass = index < n20 ? '20s' : index < n20 + n60 ? '60s' : 'random';
    const nominalMs =
      cls === '20s' ? 20_000 : cls === '60s' ? 60_000 : Math.round(5_000 + random() * 115_000);
    return {
      index,
      model: `${prefix}/p${index}`,
      cls,
      nominalMs,
      durationMs: Math.max(50, Math.round(nominalMs * timeFactor)),
    };
  });
}

/** Registers one simulator model per spec: 5 % of the time `starting`, the rest `processing`; echoes the input. */
export function registerModels(env: BenchEnv, specs: Spec[]): void {
  for (const s of specs) {
    const startDelayMs = Math.round(s.durationMs * 0.05);
    env.sim.setModel(s.model, { output: '$input', startDelayMs, durationMs: s.durationMs - startDelayMs });
  }
}

/**
 * The default backoff scaled by `factor`, kept within what validateRequest accepts (≥ 100 ms); plain (predictive
 * polling off) unless asked.
 */
export function scaledPolling(factor: number, predictive = false): Required<PollingOptions> {
  return {
    initialIntervalMs: Math.max(100, Math.round(DEFAULT_POLLING.initialIntervalMs * factor)),
    multiplier: DEFAULT_POLLING.multiplier,
    maxIntervalMs: Math.max(100, Math.round(DEFAULT_POLLING.maxIntervalMs * factor)),
    predictive,
  };
}

export function workerConfig(env: BenchEnv, taskQueue: string, webhookBaseUrl: string | null): WorkerConfig {
  return {
    address: env.server.address,
    namespace: 'default',
    taskQueue,
    replicateToken: env.token,
    replicateBaseUrl: env.sim.baseUrl,
    maxTaskQueueActivitiesPerSecond: 100_000,
    shutdownGraceTimeMs: 1_000,
    outputDir: path.join(env.workDir, 'outputs'),
    webhook: webhookBaseUrl === null ? null : { baseUrl: webhookBaseUrl, port: null, secret: null },
  };
}

async function runDirect(env: BenchEnv, specs: Spec[], tag: string): Promise<Sample[]> {
  const replicate = new Replicate({ auth: env.token, baseUrl: env.sim.baseUrl, useFileOutput: false });
  return Promise.all(
    specs.map(async (spec): Promise<Sample> => {
      const submittedAt = Date.now();
      try {
        const created = await replicate.predictions.create({
          model: spec.model,
          input: { run: tag, index: spec.index },
        });
        const done = await replicate.wait(created); // default: poll every 500 ms
        return {
          spec,
          ok: done.status === 'succeeded',
          predictionId: done.id,
          submittedAt,
          learnedAt: Date.now(),
        };
      } catch (error) {
        return { spec, ok: false, error: String(error), submittedAt, learnedAt: Date.now() };
      }
    }),
  );
}

/** The client that starts the workflows and the bundle the worker runs (observability decides both). */
interface WorkflowSetup {
  client: Client;
  bundle: { code: string };
}

async function runWorkflows(
  env: BenchEnv,
  setup: WorkflowSetup,
  specs: Spec[],
  tag: string,
  polling: PollingOptions | undefined,
  webhookBaseUrl: string | null,
  codec?: BenchCodec,
  /** run these first on the same worker, unmeasured (what predictive polling learns from) */
  warmUp: Spec[] = [],
): Promise<Sample[]> {
  const taskQueue = `bench-${tag}`;
  const config = workerConfig(env, taskQueue, webhookBaseUrl);
  const { workflowsPath: _path, ...options } = workerOptions(
    codec ? { ...config, encryption: codec.keys } : config,
    env.native,
  );
  // prebuilt bundle: the interceptor module (tracing) is in it already
  const interceptors = { ...options.interceptors, workflowModules: [] };
  const worker = await Worker.create({
    ...options,
    interceptors,
    // with the codec: its bundle (the failure converter) and the measured codec in place of the worker's own
    ...(codec
      ? { workflowBundle: codec.bundle, dataConverter: codec.dataConverter }
      : { workflowBundle: setup.bundle }),
  });
  const client = codec ? codec.client : setup.client;
  const samples = await worker.runUntil(async () => {
    await Promise.all(
      warmUp.map((spec) =>
        client.workflow.execute(runPrediction, {
          taskQueue,
          workflowId: `bench-${tag}-warm-up-${spec.index}`,
          workflowExecutionTimeout: '15m',
          args: [
            { model: spec.model, input: { run: tag, warmUp: spec.index }, ...(polling ? { polling } : {}) },
          ],
        }),
      ),
    );
    return Promise.all(
      specs.map(async (spec): Promise<Sample> => {
        const submittedAt = Date.now();
        try {
          const handle = await client.workflow.start(runPrediction, {
            taskQueue,
            workflowId: `bench-${tag}-${spec.index}`,
            workflowExecutionTimeout: '15m',
            args: [
              { model: spec.model, input: { run: tag, index: spec.index }, ...(polling ? { polling } : {}) },
            ],
          });
          const result = await handle.result();
          const learnedAt = Date.now();
          const stats = historyStats((await handle.fetchHistory()).events ?? []);
          return {
            spec,
            ok: result.status === 'succeeded',
            predictionId: result.id,
            submittedAt,
            learnedAt,
            historyEvents: stats.events,
            workflowTasks: stats.workflowTasksCompleted,
          };
        } catch (error) {
          return { spec, ok: false, error: String(error), submittedAt, learnedAt: Date.now() };
        }
      }),
    );
  });
  return samples;
}

function summarize(samples: Sample[], direct: Sample[] | undefined, workflow: boolean): ClassSummary {
  const ok = samples.filter((s) => s.ok && s.simDurationMs !== undefined);
  const directByIndex = new Map((direct ?? []).map((d) => [d.spec.index, d]));
  const pairs = ok.flatMap((s) => {
    const d = directByIndex.get(s.spec.index);
    return d?.ok ? [{ mine: s.learnedAt - s.submittedAt, theirs: d.learnedAt - d.submittedAt }] : [];
  });
  return {
    n: samples.length,
    completed: ok.length,
    e2eRatio: percentiles(ok.map((s) => (s.learnedAt - s.submittedAt) / s.simDurationMs!)),
    lagMs: percentiles(ok.map((s) => s.lagMs!)),
    startMs: percentiles(ok.map((s) => s.startMs!)),
    lagPct: percentiles(ok.map((s) => (100 * s.lagMs!) / s.simDurationMs!)),
    callsPerPrediction: percentiles(ok.map((s) => s.calls ?? 0)),
    historyEvents: workflow ? percentiles(ok.map((s) => s.historyEvents ?? 0)) : null,
    workflowTasks: workflow ? percentiles(ok.map((s) => s.workflowTasks ?? 0)) : null,
    vsDirect: direct ? percentiles(pairs.map((p) => p.mine / p.theirs)) : null,
    vsDirectMs: direct ? percentiles(pairs.map((p) => p.mine - p.theirs)) : null,
  };
}

export async function runCompare(
  env: BenchEnv,
  options: {
    size: number;
    timeFactor: number;
    seed: number;
    log: (line: string) => void;
    /** metrics need startBenchEnv's runtime with the Prometheus exporter (bench/src/observability.ts) */
    observability?: Observability;
    /** the workflow approaches with encryption too (both) or instead (on) */
    codec?: CodecMode;
  },
): Promise<CompareResult> {
  const { size, timeFactor, seed, log } = options;
  const codecMode = options.codec ?? 'off';
  const observability = await startObservability(env, options.observability ?? 'off', log);
  // bundled before any approach's clock starts (the traced bundle is bigger and slower to build)
  const setup: WorkflowSetup = { client: observability.client, bundle: await observability.bundle() };
  const codec = codecMode === 'off' ? undefined : await startBenchCodec(env);
  const specs = makeMixedSpecs(size, timeFactor, seed, 'bench-compare');
  registerPool(env, 'bench-compare', timeFactor);
  const warmUp: Spec[] = ALL_MODELS.flatMap((m, i) =>
    Array.from({ length: WARM_UP_RUNS }, (_, k) => ({
      index: i * WARM_UP_RUNS + k,
      model: modelRef('bench-compare', m),
      cls: 'random' as const,
      nominalMs: m.nominalMs,
      durationMs: Math.round(m.nominalMs * timeFactor),
    })),
  );
  const receiverOf = (client: Client) =>
    startWebhookReceiver({
      client,
      port: 0,
      host: '127.0.0.1',
      secret: null,
      replicate: { token: env.token, baseUrl: env.sim.baseUrl },
    });
  const receiver = await receiverOf(env.client);
  // the codec runs' deliveries are signalled encrypted, by a receiver with the encrypting client
  const codecReceiver = codec ? await receiverOf(codec.client) : undefined;
  const scaled = scaledPolling(timeFactor);
  const predictive = scaledPolling(timeFactor, true);
  type Step = {
    approach: ApproachName;
    description: string;
    polling: ApproachResult['polling'];
    /** predictive: unmeasured runs first (in its wall time and CPU, not in its samples) */
    warmUpRuns?: number;
    run: (tag: string) => Promise<Sample[]>;
  };
  const workflowSteps: Array<
    Omit<Step, 'run' | 'approach'> & {
      approach: WorkflowApproach;
      run: (tag: string, codec?: BenchCodec) => Promise<Sample[]>;
    }
  > = [
    {
      approach: 'polling',
      description:
        timeFactor === 1
          ? 'runPrediction, polling only, defaults (3 s × 1.5, cap 30 s)'
          : `runPrediction, polling only, defaults × ${timeFactor}`,
      polling: scaled,
      run: (tag, c) => runWorkflows(env, setup, specs, tag, scaled, null, c),
    },
    // With scaled durations, also show what the unscaled defaults do to them.
    ...(timeFactor < 1
      ? [
          {
            approach: 'polling-unscaled' as const,
            description: 'runPrediction, polling only, unscaled defaults (3 s × 1.5, cap 30 s)',
            polling: { ...DEFAULT_POLLING, predictive: false },
            run: (tag: string, c?: BenchCodec) =>
              runWorkflows(env, setup, specs, tag, { ...DEFAULT_POLLING, predictive: false }, null, c),
          },
        ]
      : []),
    // (not with --codec: the codec's cost is measured on the other approaches)
    ...(codecMode !== 'off'
      ? []
      : [
          {
            approach: 'predictive' as const,
            description: `runPrediction, predictive polling (the default), after ${WARM_UP_RUNS} unmeasured runs of each model on its worker${timeFactor === 1 ? '' : `; backoff × ${timeFactor}`}`,
            polling: predictive,
            warmUpRuns: WARM_UP_RUNS * ALL_MODELS.length,
            run: (tag: string, c?: BenchCodec) =>
              runWorkflows(env, setup, specs, tag, predictive, null, c, warmUp),
          },
        ]),
    {
      approach: 'webhooks',
      description: 'runPrediction with webhooks (in-process receiver), polling as the 30 s fallback',
      polling: 'webhook-fallback',
      run: (tag, c) =>
        runWorkflows(env, setup, specs, tag, undefined, (c ? codecReceiver! : receiver).origin, c),
    },
  ];
  const plan: Step[] = [
    {
      approach: 'direct',
      description: 'replicate.predictions.create + replicate.wait (500 ms), all concurrent',
      polling: 'replicate.wait 500 ms',
      run: (tag) => runDirect(env, specs, tag),
    },
    ...workflowSteps.flatMap((step): Step[] => {
      const coded: Step = {
        ...step,
        approach: `${step.approach}+codec`,
        description: `${step.description}; payloads encrypted (AES-256-GCM codec in worker, client and receiver)`,
        run: (tag) => step.run(tag, codec),
      };
      const plain: Step = { ...step, run: (tag) => step.run(tag) };
      return codecMode === 'off' ? [plain] : codecMode === 'on' ? [coded] : [plain, coded];
    }),
  ];
  const approaches: ApproachResult[] = [];
  let direct: Sample[] | undefined;
  try {
    for (const step of plan) {
      const tag = `${step.approach}-${randomBytes(3).toString('hex')}`;
      log(`compare: ${step.approach} (${size} predictions)`);
      const t0 = Date.now();
      const cpu0 = process.cpuUsage();
      codec?.codec.take(); // count only this approach's work
      const samples = await step.run(tag);
      const wallMs = Date.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const codecWork = step.approach.endsWith('+codec') ? codec!.codec.take() : undefined;
      const calls = callsById(env.sim);
      for (const s of samples) {
        const times = s.predictionId ? simTimes(env.sim, s.predictionId) : undefined;
        if (!times) {
          if (s.ok) s.ok = false;
          continue;
        }
        s.simDurationMs = times.durationMs;
        s.startMs = times.createdAt - s.submittedAt;
        s.lagMs = s.learnedAt - times.completedAt;
        s.calls = calls.get(s.predictionId!) ?? 0;
      }
      if (step.approach === 'direct') direct = samples;
      const workflow = step.approach !== 'direct';
      const cmp = step.approach === 'direct' ? undefined : direct;
      const classes: PredictionClass[] = ['random', '20s', '60s'];
      approaches.push({
        approach: step.approach,
        description: step.description,
        polling: step.polling,
        ...(step.warmUpRuns ? { warmUpRuns: step.warmUpRuns } : {}),
        wallMs,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        byClass: {
          all: summarize(samples, cmp, workflow),
          ...(Object.fromEntries(
            classes.map((c) => [
              c,
              summarize(
                samples.filter((s) => s.spec.cls === c),
                cmp,
                workflow,
              ),
            ]),
          ) as Record<PredictionClass, ClassSummary>),
        },
        errors: samples.flatMap((s) => (s.error ? [s.error] : [])).slice(0, 5),
        ...(codecWork ? { codec: codecWork } : {}),
      });
      log(
        `compare: ${step.approach} done in ${(wallMs / 1000).toFixed(1)} s, ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU`,
      );
    }
  } finally {
    await receiver.stop();
    await codecReceiver?.stop();
  }
  const report = await observability.finish();
  if (report.mode !== 'off') log(`compare: observability ${JSON.stringify(report)}`);
  return {
    scenario: 'compare',
    size,
    timeFactor,
    seed,
    specs: specs.map(({ index, cls, nominalMs, durationMs }) => ({ index, cls, nominalMs, durationMs })),
    approaches,
    observability: report,
    codecMode,
    codecCost: codecMode === 'both' ? codecCosts(approaches) : null,
  };
}

/** Each workflow approach against its `+codec` twin. */
export function codecCosts(approaches: ApproachResult[]): CodecCost[] {
  return approaches.flatMap((off): CodecCost[] => {
    const on = approaches.find((a) => a.approach === `${off.approach}+codec`);
    if (!on?.codec) return [];
    const lag = (a: ApproachResult, p: 'p50' | 'p95') => a.byClass.all.lagMs[p];
    const payloads = on.codec.encodedPayloads + on.codec.decodedPayloads;
    return [
      {
        approach: off.approach as WorkflowApproach,
        cpuSeconds: { off: off.cpuSeconds, on: on.cpuSeconds, ratio: on.cpuSeconds / off.cpuSeconds },
        wallMs: { off: off.wallMs, on: on.wallMs },
        lagP50Ms: { off: lag(off, 'p50'), on: lag(on, 'p50'), delta: lag(on, 'p50') - lag(off, 'p50') },
        lagP95Ms: { off: lag(off, 'p95'), on: lag(on, 'p95'), delta: lag(on, 'p95') - lag(off, 'p95') },
        codec: on.codec,
        codecMicrosPerPayload: payloads > 0 ? (on.codec.ms * 1000) / payloads : 0,
        codecShareOfCpu: on.codec.ms / 1000 / on.cpuSeconds,
      },
    ];
  });
}
