/**
 * OpenTelemetry traces end to end: a worker in this process and the CLI as a real process, both configured only by
 * the standard OTEL_* variables, export to an OTLP/HTTP receiver that runs in this process (node:http: nothing to
 * install or start, and the test reads exactly the bytes the exporters sent). The worker exports http/protobuf (the
 * default; decoded with the generated protobuf code of @opentelemetry/otlp-transformer, the exporter's own
 * encoder), the CLI http/json, so both encodings are covered by one run. One prediction, then the span tree:
 * StartWorkflow (CLI) → RunWorkflow → StartActivity → RunActivity, with the prediction id, model and attempt, and
 * the token nowhere in what was exported.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigError, type WorkerConfig } from '../../src/config';
import { freePort, startDevServer, type DevServer } from '../../src/dev/dev-server';
import {
  bundleHasTracing,
  readTracingConfig,
  startTracing,
  workflowInterceptorsModule,
  type Tracing,
} from '../../src/observability/tracing';
import { workerOptions, workflowsPath } from '../../src/worker';
import { runPrediction } from '../../src/workflows';
import { loadHistory, recordedHistories } from '../helpers/histories';
import { ReplicateSimulator } from '../../simulator';

const PROJECT_ROOT = path.join(__dirname, '..', '..');
const TOKEN = `r8_trace-secret-${randomUUID()}`;

interface Span {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  service: string;
  attributes: Record<string, unknown>;
  events: { name: string; attributes: Record<string, unknown> }[];
}

/** The OTLP/HTTP receiver: every POST /v1/traces body, raw and decoded. */
class OtlpReceiver {
  readonly bodies: { contentType: string; raw: Buffer }[] = [];
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method === 'POST' && req.url === '/v1/traces') {
          this.bodies.push({ contentType: req.headers['content-type'] ?? '', raw: Buffer.concat(chunks) });
        }
        res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/json' });
        res.end(req.headers['content-type']?.includes('json') ? '{}' : undefined);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server!.address() as { port: number }).port;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server!.close(() => resolve()));
  }

  spans(): Span[] {
    return this.bodies.flatMap(({ contentType, raw }) =>
      decode(contentType.includes('json') ? JSON.parse(raw.toString('utf8')) : fromProtobuf(raw)),
    );
  }
}

/** The exporter's own generated protobuf code (protobufjs static module) reads the request back. */
function fromProtobuf(raw: Buffer): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const root = require('@opentelemetry/otlp-transformer/build/src/generated/root');
  const message = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
  return message.toObject(message.decode(raw), { longs: String });
}

type Any = Record<string, unknown>;
const hex = (id: unknown): string =>
  typeof id === 'string' ? id : id instanceof Uint8Array ? Buffer.from(id).toString('hex') : '';
/** An OTLP AnyValue: scalars as they are, lists and maps (a workflow span's memo, search attributes) decoded too. */
function value(v: Any | undefined): unknown {
  if (!v) return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('boolValue' in v) return v.boolValue;
  if ('doubleValue' in v) return v.doubleValue;
  if ('kvlistValue' in v) return attributes((v.kvlistValue as Any).values);
  if ('arrayValue' in v) return (((v.arrayValue as Any).values as Any[]) ?? []).map(value);
  return undefined;
}
function attributes(list: unknown): Record<string, unknown> {
  return Object.fromEntries(((list as Any[]) ?? []).map((a) => [a.key as string, value(a.value as Any)]));
}

/** OTLP (JSON or decoded protobuf) → flat spans with their service name. */
function decode(request: unknown): Span[] {
  return ((request as Any).resourceSpans as Any[]).flatMap((rs) => {
    const service = String(attributes((rs.resource as Any).attributes)['service.name']);
    return (rs.scopeSpans as Any[]).flatMap((ss) =>
      (ss.spans as Any[]).map((s) => ({
        name: s.name as string,
        traceId: hex(s.traceId),
        spanId: hex(s.spanId),
        parentSpanId: hex(s.parentSpanId),
        service,
        attributes: attributes(s.attributes),
        events: ((s.events as Any[]) ?? []).map((e) => ({
          name: e.name as string,
          attributes: attributes(e.attributes),
        })),
      })),
    );
  });
}

describe('tracing configuration (standard OTEL_* variables)', () => {
  it('is off unless asked for, honours OTEL_SDK_DISABLED and none, picks the protocol', () => {
    expect(readTracingConfig({})).toBeNull();
    expect(readTracingConfig({ OTEL_SERVICE_NAME: 'x' })).toBeNull();
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    expect(readTracingConfig(endpoint)).toEqual({ protocol: 'http/protobuf' });
    expect(readTracingConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' })).toEqual({
      protocol: 'http/protobuf',
    });
    expect(readTracingConfig({ OTEL_TRACES_EXPORTER: 'otlp' })).toEqual({ protocol: 'http/protobuf' });
    expect(readTracingConfig({ ...endpoint, OTEL_SDK_DISABLED: 'true' })).toBeNull();
    expect(readTracingConfig({ ...endpoint, OTEL_TRACES_EXPORTER: 'none' })).toBeNull();
    expect(readTracingConfig({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })).toEqual({
      protocol: 'http/json',
    });
    expect(
      readTracingConfig({
        ...endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
      }),
    ).toEqual({ protocol: 'http/protobuf' });
  });

  it('refuses what it cannot do with the variable and the fix', () => {
    expect(() => readTracingConfig({ OTEL_TRACES_EXPORTER: 'zipkin' })).toThrow(
      'OTEL_TRACES_EXPORTER="zipkin": only otlp (or none) is supported',
    );
    expect(() =>
      readTracingConfig({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }),
    ).toThrow(
      'OTEL_EXPORTER_OTLP_PROTOCOL="grpc" is not supported: use http/protobuf (the default) or http/json',
    );
    expect(() => readTracingConfig({ OTEL_TRACES_EXPORTER: 'jaeger' })).toThrow(ConfigError);
  });
  it('a bad value stops the worker and the CLI with exit 2 and one line naming it', async () => {
    const env = {
      REPLICATE_API_TOKEN: TOKEN,
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      OTEL_TRACES_EXPORTER: 'zipkin',
    };
    const [worker, cli] = await Promise.all([
      runProcess('src/worker/main.ts', [], env),
      runProcess('src/cli/main.ts', ['status', 'some-id'], env),
    ]);
    expect(worker.code).toBe(2);
    expect(worker.stderr.trim().split('\n')).toEqual([
      expect.stringContaining('OTEL_TRACES_EXPORTER="zipkin": only otlp (or none) is supported'),
    ]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain('OTEL_TRACES_EXPORTER="zipkin"');
  }, 60_000);
});

describe('traces of one prediction (worker in process, CLI as a process)', () => {
  const receiver = new OtlpReceiver();
  const sim = new ReplicateSimulator({ token: TOKEN });
  let server: DevServer;
  let connection: NativeConnection;
  let tracing: Tracing | null;
  let workflowBundle: { code: string };
  let config: WorkerConfig;
  let cli: { code: number | null; stdout: string; stderr: string };
  let spans: Span[];
  const warnings: string[] = [];
  let workflowId = '';

  beforeAll(async () => {
    await Promise.all([receiver.start(), sim.start()]);
    server = await startDevServer({ port: await freePort(), uiPort: null, searchAttributes: true });
    // this process (the worker): the default protocol, http/protobuf
    vi.stubEnv('OTEL_EXPORTER_OTLP_ENDPOINT', `http://127.0.0.1:${receiver.port}`);
    vi.stubEnv('OTEL_SERVICE_NAME', 'tracing-test-worker');
    tracing = await startTracing('replicate-temporal-worker', { warn: (line) => warnings.push(line) });
    // what `npm run build:workflows -- --tracing` builds (scripts/build-workflow-bundle.ts)
    workflowBundle = await bundleWorkflowCode({
      workflowsPath,
      workflowInterceptorModules: [workflowInterceptorsModule],
      logger: new DefaultLogger('WARN'),
    });
    connection = await NativeConnection.connect({ address: server.address });
    config = {
      address: server.address,
      namespace: 'default',
      taskQueue: `tracing-${randomUUID()}`,
      replicateToken: TOKEN,
      replicateBaseUrl: sim.baseUrl,
      maxTaskQueueActivitiesPerSecond: 1000,
      shutdownGraceTimeMs: 1000,
      outputDir: path.join(tmpdir(), `replicate-temporal-tracing-${randomUUID()}`),
      webhook: null,
    };
  }, 120_000);

  afterAll(async () => {
    vi.unstubAllEnvs();
    await tracing?.shutdown();
    await connection?.close();
    await server?.stop();
    await Promise.all([sim.stop(), receiver.stop()]);
  });

  it('the worker options carry the interceptors and the sink; bundling from source adds the module', () => {
    expect(tracing).not.toBeNull();
    const options = workerOptions(config, connection);
    expect(options.interceptors?.workflowModules).toEqual([workflowInterceptorsModule]);
    expect(options.interceptors?.activity).toHaveLength(2);
    expect(Object.keys(options.sinks ?? {})).toEqual(['exporter']);
    // a prebuilt bundle built without --tracing: said once, with the fix
    expect(bundleHasTracing(workflowBundle.code)).toBe(true);
    const { workflowsPath: _source, ...prebuilt } = options;
    tracing!.worker({ ...prebuilt, workflowBundle: { code: 'globalThis.x = 1; // no interceptor' } });
    tracing!.worker({ ...prebuilt, workflowBundle: { code: 'globalThis.x = 1; // no interceptor' } });
    expect(warnings).toEqual([expect.stringContaining('has no tracing interceptor: no workflow spans')]);
    expect(warnings[0]).toContain('rebuild it with `npm run build:workflows -- --tracing`');
  });

  it('runs one prediction through the CLI; the trace is StartWorkflow → RunWorkflow → activities', async () => {
    // as `npm run worker` with WORKFLOW_BUNDLE: the prebuilt bundle (it holds the workflow interceptor module)
    const { workflowsPath: _source, interceptors, ...options } = workerOptions(config, connection);
    const worker = await Worker.create({
      ...options,
      interceptors: { ...interceptors, workflowModules: [] },
      workflowBundle,
    });
    cli = await worker.runUntil(
      runCli(['run', '--model', 'sim/echo', '--input', '{"prompt":"a lighthouse"}', '--json'], {
        TEMPORAL_ADDRESS: server.address,
        TEMPORAL_TASK_QUEUE: config.taskQueue,
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      }),
    );
    await tracing!.shutdown(); // the worker is down: export what it buffered (workflow spans came through the sink)
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    const summary = JSON.parse(cli.stdout) as { predictionId: string; workflowId: string; status: string };
    workflowId = summary.workflowId;
    expect(summary.status).toBe('succeeded');
    // both encodings arrived: the CLI's JSON, the worker's protobuf
    expect(new Set(receiver.bodies.map((b) => b.contentType))).toEqual(
      new Set(['application/json', 'application/x-protobuf']),
    );
    spans = receiver.spans();

    const start = spans.find((s) => s.name === 'StartWorkflow:runPrediction')!;
    expect(start).toMatchObject({ service: 'replicate-temporal-cli', parentSpanId: '' });
    const trace = spans.filter((s) => s.traceId === start.traceId);
    const children = (parent: Span) => trace.filter((s) => s.parentSpanId === parent.spanId);

    const [run, ...otherRuns] = children(start);
    expect(otherRuns).toEqual([]);
    expect(run).toMatchObject({
      name: 'RunWorkflow:runPrediction',
      service: 'tracing-test-worker',
      attributes: { 'replicate.model': 'sim/echo' },
    });

    const starts = children(run!);
    const createStart = starts.find((s) => s.name === 'StartActivity:createPrediction')!;
    expect(children(createStart).map((s) => s.name)).toEqual(['RunActivity:createPrediction']);
    expect(children(createStart)[0]!.attributes).toMatchObject({
      'replicate.prediction_id': summary.predictionId,
      'replicate.model': 'sim/echo',
      'replicate.status': 'starting',
      'temporal.activity.attempt': 1,
      temporalWorkflowId: summary.workflowId,
    });

    const polls = starts.filter((s) => s.name === 'StartActivity:getPrediction');
    expect(polls.length).toBeGreaterThanOrEqual(1);
    const pollRuns = polls.flatMap(children);
    expect(pollRuns.map((s) => s.name)).toEqual(polls.map(() => 'RunActivity:getPrediction'));
    for (const poll of pollRuns) {
      expect(poll.attributes).toMatchObject({
        'replicate.prediction_id': summary.predictionId,
        'replicate.model': 'sim/echo',
        'temporal.activity.attempt': 1,
      });
    }
    expect(pollRuns.at(-1)!.attributes['replicate.status']).toBe('succeeded');
    // nothing of this run outside its trace: every worker span of the workflow hangs under the CLI's start
    const worker_ = spans.filter((s) => s.attributes.temporalWorkflowId === summary.workflowId);
    expect(worker_.every((s) => s.traceId === start.traceId)).toBe(true);
  }, 120_000);

  it('a collector that is down costs the CLI its spans, not its exit code: one warning', async () => {
    const status = await runCli(['status', workflowId], {
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_TASK_QUEUE: config.taskQueue,
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1',
    });
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('COMPLETED');
    expect(status.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^warning: traces not exported: .*ECONNREFUSED/),
    ]);
  }, 60_000);

  it('the token is in no exported byte: span names, attributes, events', () => {
    expect(spans.length).toBeGreaterThan(4);
    for (const body of receiver.bodies) expect(body.raw.includes(TOKEN)).toBe(false);
    const text = JSON.stringify(spans);
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(TOKEN.slice(3)); // nor a part of it
  });

  it('npm run worker (a process, bundling from source) traces with OTEL_* alone and flushes on SIGTERM', async () => {
    const before = receiver.bodies.length;
    const taskQueue = `tracing-process-${randomUUID()}`;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker/main.ts'], {
      cwd: PROJECT_ROOT,
      env: {
        ...withoutOtel(),
        TEMPORAL_ADDRESS: server.address,
        TEMPORAL_TASK_QUEUE: taskQueue,
        REPLICATE_API_TOKEN: TOKEN,
        REPLICATE_BASE_URL: sim.baseUrl,
        RECONCILE_EVERY: 'off',
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${receiver.port}/v1/traces`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        // nothing leaves on the batch schedule: only the flush at exit can export this run's spans
        OTEL_BSP_SCHEDULE_DELAY: '600000',
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await expect.poll(() => stdout, { timeout: 60_000, interval: 200 }).toContain('worker polling');

    const client = new Client({ connection: await Connection.connect({ address: server.address }) });
    const workflowId = `tracing-process-${randomUUID()}`;
    const result = await client.workflow.execute(runPrediction, {
      taskQueue,
      workflowId,
      args: [{ model: 'sim/echo', input: { prompt: 'from a worker process' } }],
    });
    await client.connection.close();
    expect(receiver.bodies.length).toBe(before); // nothing exported yet (batch delay)
    child.kill('SIGTERM');
    expect(await exited, stderr).toBe(0);

    const exported = receiver.spans().filter((s) => s.service === 'replicate-temporal-worker');
    const run = exported.find((s) => s.name === 'RunWorkflow:runPrediction')!;
    expect(run).toMatchObject({
      parentSpanId: '', // the client here is not traced: the workflow's span is the root
      attributes: { workflowId, 'replicate.model': 'sim/echo' },
    });
    const activities = exported.filter((s) => s.traceId === run.traceId && s.name.startsWith('RunActivity:'));
    expect(activities.map((s) => s.name)).toContain('RunActivity:createPrediction');
    expect(activities.every((s) => s.attributes['replicate.prediction_id'] === result.id)).toBe(true);
    expect(JSON.stringify(receiver.bodies.slice(before).map((b) => b.raw.toString('utf8')))).not.toContain(
      TOKEN,
    );
  }, 120_000);

  it('the recorded histories replay with the interceptors in the bundle (they add no commands)', async () => {
    const histories = recordedHistories();
    expect(histories.length).toBeGreaterThan(10);
    for (const h of histories) {
      await Worker.runReplayHistory(
        // the no-op sink a worker with tracing off registers (withTracing), so spans go nowhere quietly
        { workflowBundle, sinks: { exporter: { export: { fn: () => undefined } } } },
        loadHistory(h),
        h.workflowId,
      );
    }
  }, 120_000);

  it("the traced run's history replays without the interceptors (tracing can be turned off mid-run)", async () => {
    const client = new Client({ connection: await Connection.connect({ address: server.address }) });
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    await client.connection.close();
    // the start and the activities carry the trace context in headers: data, not commands
    const scheduled = history.events!.find((e) => e.activityTaskScheduledEventAttributes)!;
    expect(Object.keys(scheduled.activityTaskScheduledEventAttributes!.header!.fields!)).toContain(
      '_tracer-data',
    );
    const plain = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
    expect(bundleHasTracing(plain.code)).toBe(false);
    await Worker.runReplayHistory({ workflowBundle: plain }, history, workflowId);
    await Worker.runReplayHistory(
      { workflowBundle, sinks: { exporter: { export: { fn: () => undefined } } } },
      history,
      workflowId,
    );
  }, 120_000);
});

/** `tsx src/cli/main.ts ...` as a real process, with these variables (no OTEL_SERVICE_NAME: the CLI's default). */
function runCli(
  argv: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runProcess('src/cli/main.ts', argv, env);
}

/** `tsx <script> ...` as a real process with this process's variables but its OTEL_* ones, plus `env`. */
function runProcess(
  script: string,
  argv: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const inherited = withoutOtel();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, script), ...argv], {
      cwd: PROJECT_ROOT,
      env: { ...inherited, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** This process's environment without its OTEL_* variables (the test's own exporter settings). */
function withoutOtel(): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
}
