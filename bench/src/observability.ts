/**
 * The compare scenario with the worker's observability on (`--observability off|metrics|tracing|both`), to measure
 * what metrics and traces cost:
 * - metrics: the SDK runtime is installed with the Prometheus exporter on a free 127.0.0.1 port (the worker's own
 *   `installRuntime`, as METRICS_PORT does) and scraped once at the end, to prove it was live;
 * - tracing: `startTracing` with OTEL_TRACES_EXPORTER=otlp towards an in-process OTLP/HTTP sink that only counts what
 *   it receives (like test/integration/tracing.test.ts's receiver, without decoding); the workflow bundle holds the
 *   workflow interceptor, the worker options go through `withTracing` (src/worker/index.ts's workerOptions), the client has
 *   the tracing client interceptor.
 *
 * Run as a script, it alternates `off` and `both` compare runs (same size and seed) and writes their ratios:
 * `npx tsx bench/src/observability.ts [--pairs 3] [--size 40] [--time-factor 0.25] [--seed 42]`.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { Client } from '@temporalio/client';
import { DefaultLogger, bundleWorkflowCode } from '@temporalio/worker';
import { freePort } from '../../src/dev/dev-server';
import { startTracing, workflowInterceptorsModule, type Tracing } from '../../src/observability/tracing';
import { workflowsPath } from '../../src/worker';
import type { BenchEnv } from './env';
import { percentiles, roundAll, type Percentiles } from './lib';

export const OBSERVABILITY_MODES = ['off', 'metrics', 'tracing', 'both'] as const;
export type Observability = (typeof OBSERVABILITY_MODES)[number];

/** `--observability`'s value, or an error naming the option and the values it takes. */
export function parseObservability(raw: string | undefined): Observability {
  const value = (raw ?? 'off').trim().toLowerCase();
  if (!(OBSERVABILITY_MODES as readonly string[]).includes(value))
    throw new Error(`--observability must be one of ${OBSERVABILITY_MODES.join(', ')}, got "${raw}"`);
  return value as Observability;
}

export const metricsOn = (mode: Observability): boolean => mode === 'metrics' || mode === 'both';
export const tracingOn = (mode: Observability): boolean => mode === 'tracing' || mode === 'both';

/** Where the runtime serves /metrics (for startBenchEnv), or undefined when metrics are off. */
export async function metricsEndpoint(
  mode: Observability,
): Promise<{ port: number; host: string } | undefined> {
  return metricsOn(mode) ? { port: await freePort(), host: '127.0.0.1' } : undefined;
}

/** An OTLP/HTTP sink that answers 200 to everything and counts the POST /v1/traces requests and their bytes. */
export class OtlpCountingSink {
  requests = 0;
  bytes = 0;
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let bytes = 0;
      req.on('data', (c: Buffer) => (bytes += c.length));
      req.on('end', () => {
        if (req.method === 'POST' && req.url === '/v1/traces') {
          this.requests++;
          this.bytes += bytes;
        }
        const json = req.headers['content-type']?.includes('json') ?? false;
        res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
        res.end(json ? '{}' : undefined); // an empty protobuf ExportTraceServiceResponse
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server!.address() as { port: number }).port;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** What the end of a compare run says about its observability (null parts: that half was off). */
export interface ObservabilityReport {
  mode: Observability;
  /** the one scrape at the end: replicate_* series (sample lines) and metric families, the body's size */
  metrics: {
    replicateSeries: number;
    replicateFamilies: number;
    temporalSeries: number;
    bytes: number;
    /** the scrape's replicate_* lines without histogram buckets (counters, _sum, _count), at most 6 per name */
    sample: string[];
    /** replicate_predictions_total summed over all its series, by status (the sample is cut at 6 lines) */
    runEnds: Record<string, number>;
  } | null;
  /** what the OTLP sink received once the tracer provider was shut down (flushed) */
  tracing: { requests: number; bytes: number } | null;
}

/** Sample lines and `# TYPE` families of a Prometheus text body whose names start with `prefix`. */
export function countSeries(body: string, prefix: string): { series: number; families: number } {
  const lines = body.split('\n');
  return {
    series: lines.filter((l) => l.startsWith(prefix)).length,
    families: lines.filter((l) => l.startsWith(`# TYPE ${prefix}`)).length,
  };
}

/** The scrape's replicate_* lines without histogram buckets, at most 6 per metric name (a bench has many models). */
function sampleOf(body: string): string[] {
  const seen = new Map<string, number>();
  return body.split('\n').filter((line) => {
    const name = /^replicate_[a-z_]+/.exec(line)?.[0];
    if (!name || name.endsWith('_bucket')) return false;
    seen.set(name, (seen.get(name) ?? 0) + 1);
    return seen.get(name)! <= 6;
  });
}

/** replicate_predictions_total over every series, by its status label. */
function runEndsOf(body: string): Record<string, number> {
  const ends: Record<string, number> = {};
  for (const line of body.split('\n')) {
    if (!line.startsWith('replicate_predictions_total{')) continue;
    const status = /status="([^"]*)"/.exec(line)?.[1] ?? '';
    ends[status] = (ends[status] ?? 0) + Number(line.split(' ').pop());
  }
  return ends;
}

/** One compare run's observability: its client, its bundle, and `finish` (flush, scrape, stop). */
export interface BenchObservability {
  mode: Observability;
  /** the client that starts the workflows (with the tracing client interceptor when tracing) */
  client: Client;
  /** the workflow bundle (with the workflow interceptor when tracing) */
  bundle(): Promise<{ code: string }>;
  finish(): Promise<ObservabilityReport>;
}

/**
 * Start the tracing half (sink, environment, startTracing) for `env`; `env.metricsUrl` is the metrics half (the
 * runtime is installed by startBenchEnv, before any connection). Off: env's client and bundle, nothing else.
 */
export async function startObservability(
  env: BenchEnv,
  mode: Observability,
  log: (line: string) => void,
): Promise<BenchObservability> {
  if (metricsOn(mode) && !env.metricsUrl)
    throw new Error('--observability metrics needs startBenchEnv(log, { metrics }) (bench/src/main.ts)');
  let sink: OtlpCountingSink | undefined;
  let tracing: Tracing | null = null;
  if (tracingOn(mode)) {
    sink = new OtlpCountingSink();
    await sink.start();
    // startTracing and the OTLP exporter read the standard environment (src/observability/tracing.ts)
    process.env.OTEL_TRACES_EXPORTER = 'otlp';
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${sink.port}`;
    tracing = await startTracing('replicate-bench', { warn: (line) => log(`tracing: ${line}`) });
    if (!tracing) throw new Error('tracing did not start (OTEL_SDK_DISABLED=true in the environment?)');
  }
  let traced: Promise<{ code: string }> | undefined;
  const client = tracing
    ? new Client({ connection: env.connection, interceptors: tracing.clientInterceptors })
    : env.client;
  return {
    mode,
    client,
    bundle: () =>
      tracing
        ? (traced ??= bundleWorkflowCode({
            workflowsPath,
            workflowInterceptorModules: [workflowInterceptorsModule],
            logger: new DefaultLogger('WARN'),
          }))
        : env.bundle(),
    async finish() {
      let metrics: ObservabilityReport['metrics'] = null;
      if (env.metricsUrl) {
        const body = await (await fetch(env.metricsUrl)).text();
        const replicate = countSeries(body, 'replicate_');
        metrics = {
          replicateSeries: replicate.series,
          replicateFamilies: replicate.families,
          temporalSeries: countSeries(body, 'temporal_').series,
          bytes: Buffer.byteLength(body),
          sample: sampleOf(body),
          runEnds: runEndsOf(body),
        };
      }
      let traces: ObservabilityReport['tracing'] = null;
      if (tracing && sink) {
        await tracing.shutdown(); // flushes the batch processor; activeTracing() is null again
        traces = { requests: sink.requests, bytes: sink.bytes };
        await sink.stop();
        delete process.env.OTEL_TRACES_EXPORTER;
        delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
      }
      return { mode, metrics, tracing: traces };
    },
  };
}

// ------------------------------------------------------------------ off vs both, alternated

/** What the overhead run reads from one compare result file. */
interface RunFigures {
  mode: Observability;
  /** the workflow approaches' wall time, summed, ms */
  wallMs: number;
  /** the bench process's CPU over the workflow approaches (worker, client, simulator, receiver: all in-process), s */
  cpuSeconds: number;
  /** completion lag p50 over every workflow approach's predictions, ms (median of the approaches' p50s) */
  lagP50Ms: number;
  observability: ObservabilityReport | undefined;
}

function figures(file: string): RunFigures {
  const r = JSON.parse(readFileSync(file, 'utf8')) as {
    observability?: ObservabilityReport;
    approaches: Array<{
      approach: string;
      wallMs: number;
      cpuSeconds?: number;
      byClass: { all: { lagMs: Percentiles } };
    }>;
  };
  const workflows = r.approaches.filter((a) => a.approach !== 'direct');
  return {
    mode: r.observability?.mode ?? 'off',
    wallMs: workflows.reduce((s, a) => s + a.wallMs, 0),
    cpuSeconds: workflows.reduce((s, a) => s + (a.cpuSeconds ?? 0), 0),
    lagP50Ms: percentiles(workflows.map((a) => a.byClass.all.lagMs.p50)).p50,
    observability: r.observability,
  };
}

/** The median (the mean of the middle two for an even count), the extremes, and every value in pair order. */
export function ratioStats(values: number[]): { median: number; min: number; max: number; each: number[] } {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length / 2;
  const median = v.length === 0 ? 0 : v.length % 2 ? v[Math.floor(mid)]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0] ?? 0, max: v[v.length - 1] ?? 0, each: values };
}

async function overhead(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      pairs: { type: 'string', default: '3' },
      size: { type: 'string', default: '40' },
      'time-factor': { type: 'string', default: '0.25' },
      seed: { type: 'string', default: '42' },
      /** no runs: the summary again from the result files already in the directory */
      'summarize-only': { type: 'boolean', default: false },
    },
  });
  const pairs = Number(values.pairs);
  if (!Number.isInteger(pairs) || pairs < 1 || pairs > 20)
    throw new Error('--pairs must be an integer in 1..20');
  const date = new Date().toISOString().slice(0, 10);
  const dir = path.resolve(__dirname, '..', 'results', `${date}-compare-overhead`);
  mkdirSync(dir, { recursive: true });
  const run = promisify(execFile);
  const runs: Array<{ pair: number; off: RunFigures; both: RunFigures }> = [];
  for (let pair = 1; pair <= pairs; pair++) {
    const got: Partial<Record<'off' | 'both', RunFigures>> = {};
    // alternate which goes first, so a drift in the machine's load does not favour one mode
    for (const mode of pair % 2 === 1 ? (['off', 'both'] as const) : (['both', 'off'] as const)) {
      const out = path.join(dir, `${mode}-${pair}.json`);
      if (values['summarize-only']) {
        got[mode] = figures(out);
        continue;
      }
      const args = ['--import', 'tsx', path.join(__dirname, 'main.ts'), '--scenario', 'compare'];
      args.push('--size', values.size!, '--time-factor', values['time-factor']!, '--seed', values.seed!);
      args.push('--observability', mode, '--out', out, '--max-minutes', '20');
      console.error(`[overhead] pair ${pair}: ${mode}`);
      await run(process.execPath, args, { maxBuffer: 16 * 1024 * 1024 });
      got[mode] = figures(out);
      const { wallMs, cpuSeconds, lagP50Ms } = got[mode]!;
      console.error(`[overhead] ${mode}: ${JSON.stringify(roundAll({ wallMs, cpuSeconds, lagP50Ms }))}`);
    }
    runs.push({ pair, off: got.off!, both: got.both! });
  }
  const ratio = (pick: (f: RunFigures) => number) =>
    ratioStats(runs.map((r) => (pick(r.off) === 0 ? 0 : pick(r.both) / pick(r.off))));
  const summary = {
    generatedAt: new Date().toISOString(),
    note: "both / off per pair (same size and seed, alternated on a shared, noisy 2-core machine). Wall: the workflow approaches (polling, polling-unscaled, webhooks) summed; CPU: the bench process over them (worker, client, simulator and webhook receiver in-process); lag: median of the approaches' completion-lag p50.",
    size: Number(values.size),
    timeFactor: Number(values['time-factor']),
    seed: Number(values.seed),
    ratios: {
      wall: ratio((f) => f.wallMs),
      cpu: ratio((f) => f.cpuSeconds),
      lagP50: ratio((f) => f.lagP50Ms),
    },
    runs,
  };
  const file = path.join(path.dirname(dir), `${date}-compare-overhead.json`);
  writeFileSync(file, JSON.stringify(roundAll(summary), null, 2) + '\n');
  console.log(JSON.stringify(roundAll(summary.ratios), null, 2));
  console.error(`[overhead] wrote ${file}`);
}

if (require.main === module) {
  overhead(process.argv.slice(2)).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`overhead: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
