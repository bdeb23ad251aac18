/**
 * OpenTelemetry traces through Temporal's own interceptors (`@temporalio/interceptors-opentelemetry`, the version of
 * our SDK): the client's StartWorkflow span → the workflow's RunWorkflow span → StartActivity/RunActivity spans of
 * every create, poll and cancel, with the prediction id, model and attempt on the activity spans (./activity-
 * attributes.ts) and the model on the workflow span (./workflow-interceptors.ts). Exported over OTLP/HTTP.
 *
 * On only when the standard OpenTelemetry environment asks for it: OTEL_TRACES_EXPORTER=otlp, or (with
 * OTEL_TRACES_EXPORTER unset) OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set; never with
 * OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none. Off, nothing of OpenTelemetry is loaded and no interceptor is
 * installed. The exporter itself reads the rest of the standard variables (endpoint, headers, timeout,
 * compression), the provider OTEL_TRACES_SAMPLER and OTEL_BSP_*, the resource OTEL_SERVICE_NAME and
 * OTEL_RESOURCE_ATTRIBUTES.
 *
 * Why not the package's OpenTelemetryPlugin: it is marked experimental in 1.24, and our worker bundles its workflow
 * code itself (worker.ts, scripts/build-workflow-bundle.ts), which needs the interceptor module's path anyway.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ClientInterceptors } from '@temporalio/client';
import type { InjectedSinks, WorkerOptions } from '@temporalio/worker';
import { ConfigError, readBoolean } from '../config';

type Env = Record<string, string | undefined>;

/** The OTLP encodings we export with: protobuf (the spec's default) or JSON, both over HTTP (port 4318). */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

export interface TracingConfig {
  protocol: OtlpProtocol;
}

/**
 * The workflow interceptor module (runs in the workflow sandbox): bundled with the workflow code when tracing is on,
 * and in a prebuilt bundle built with `npm run build:workflows -- --tracing`. Not by default: in the sandbox it
 * costs CPU on every workflow task even when the worker drops the spans (docs/observability.md, Traces).
 */
// No extension: the bundler picks workflow-interceptors.ts from source (tsx, tests) or .js from a build.
export const workflowInterceptorsModule = path.join(__dirname, 'workflow-interceptors');

/** A string only a bundle holding the workflow interceptor contains (the name of the sandbox's tracer). */
const BUNDLE_MARKER = '@temporalio/interceptor-workflow';

/** Whether a workflow bundle's code holds the OpenTelemetry workflow interceptor. */
export function bundleHasTracing(code: string): boolean {
  return code.includes(BUNDLE_MARKER);
}

/** Whether the environment turns traces on, and how they are sent; a bad value is a ConfigError naming it. */
export function readTracingConfig(env: Env = process.env): TracingConfig | null {
  const value = (name: string) => env[name]?.trim() || undefined;
  if (readBoolean(env, 'OTEL_SDK_DISABLED') === true) return null;
  const exporters = (value('OTEL_TRACES_EXPORTER') ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  if (exporters.includes('none')) return null;
  const unsupported = exporters.filter((name) => name !== 'otlp');
  if (unsupported.length > 0) {
    throw new ConfigError(
      `OTEL_TRACES_EXPORTER="${env.OTEL_TRACES_EXPORTER}": only otlp (or none) is supported; set OTEL_TRACES_EXPORTER=otlp or unset it`,
    );
  }
  const wanted =
    exporters.length > 0 ||
    value('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') !== undefined ||
    value('OTEL_EXPORTER_OTLP_ENDPOINT') !== undefined;
  if (!wanted) return null;
  const variable = value('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL')
    ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = (value(variable) ?? 'http/protobuf').toLowerCase();
  if (!(OTLP_PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new ConfigError(
      `${variable}="${env[variable]}" is not supported: use http/protobuf (the default) or http/json, and the collector's OTLP/HTTP port (usually 4318)`,
    );
  }
  return { protocol: protocol as OtlpProtocol };
}

let active: Tracing | null = null;

/** This process's tracing, once startTracing turned it on (null: off). */
export function activeTracing(): Tracing | null {
  return active;
}

/** Tracing in one process: interceptors for its clients and worker, and the flush before it exits. */
export interface Tracing {
  config: TracingConfig;
  /** for `new Client({ connection, interceptors })`: StartWorkflow (and signal, query...) spans */
  clientInterceptors: ClientInterceptors;
  /** the worker's options with the activity and workflow interceptors and the sink exporting workflow spans */
  worker(options: WorkerOptions): WorkerOptions;
  /**
   * export what is buffered and stop (call before the process exits: short runs are otherwise lost); never throws,
   * an export that fails is one warning
   */
  shutdown(): Promise<void>;
}

/**
 * Start tracing for this process if the environment asks for it (else null, having loaded nothing). Registers the
 * global tracer provider, the AsyncLocalStorage context manager and the W3C propagators (OTEL_PROPAGATORS).
 * `serviceName` is the default of OTEL_SERVICE_NAME.
 */
export async function startTracing(
  serviceName: string,
  options: { /** where a misconfiguration is said (default stderr) */ warn?: (line: string) => void } = {},
): Promise<Tracing | null> {
  const warn = options.warn ?? ((line: string) => console.error(`warning: ${line}`));
  let bundleChecked = false;
  const config = readTracingConfig(process.env); // the exporter, provider and resource read process.env too
  if (!config) return null;
  const [
    sdk,
    { AsyncLocalStorageContextManager },
    { Resource, envDetectorSync },
    temporal,
    { replicateAttributes },
  ] = await Promise.all([
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/resources'),
    import('@temporalio/interceptors-opentelemetry'),
    import('./activity-attributes.js'),
  ]);
  const { OTLPTraceExporter } =
    config.protocol === 'http/json'
      ? await import('@opentelemetry/exporter-trace-otlp-http')
      : await import('@opentelemetry/exporter-trace-otlp-proto');
  const resource = new Resource({ 'service.name': serviceName }).merge(envDetectorSync.detect());
  const processor = new sdk.BatchSpanProcessor(new OTLPTraceExporter());
  const provider = new sdk.BasicTracerProvider({ resource, spanProcessors: [processor] });
  provider.register({ contextManager: new AsyncLocalStorageContextManager() });
  const tracer = provider.getTracer('replicate-temporal');
  return (active = {
    config,
    clientInterceptors: { workflow: [new temporal.OpenTelemetryWorkflowClientInterceptor({ tracer })] },
    worker(options) {
      const bundle = options.workflowsPath ? undefined : options.workflowBundle;
      if (bundle && !bundleChecked) {
        bundleChecked = true;
        const code = 'code' in bundle ? bundle.code : readFileSync(bundle.codePath, 'utf8');
        if (!bundleHasTracing(code)) {
          warn(
            `tracing is on but the workflow bundle${'codePath' in bundle ? ` ${bundle.codePath}` : ''} has no tracing interceptor: no workflow spans, and each activity starts a trace of its own; rebuild it with \`npm run build:workflows -- --tracing\``,
          );
        }
      }
      const sinks: InjectedSinks<import('@temporalio/interceptors-opentelemetry').OpenTelemetrySinks> = {
        exporter: temporal.makeWorkflowExporter(processor, resource),
      };
      return {
        ...options,
        interceptors: {
          ...options.interceptors,
          // only when the worker bundles from source (a prebuilt bundle has it or not, see above; the SDK would warn)
          ...(options.workflowsPath
            ? {
                workflowModules: [
                  ...(options.interceptors?.workflowModules ?? []),
                  workflowInterceptorsModule,
                ],
              }
            : {}),
          activity: [
            ...(options.interceptors?.activity ?? []),
            // the first is outermost: the RunActivity span is active when ours sets its attributes
            (ctx) => ({
              inbound: new temporal.OpenTelemetryActivityInboundInterceptor(ctx, { tracer }),
              outbound: new temporal.OpenTelemetryActivityOutboundInterceptor(ctx),
            }),
            replicateAttributes,
          ],
        },
        sinks: { ...options.sinks, ...sinks },
      };
    },
    async shutdown() {
      if (active === this) active = null;
      // flushes the batch processor; a collector that is down costs the spans, never the process's exit code
      await provider.shutdown().catch((error: unknown) => {
        warn(`traces not exported: ${error instanceof Error ? error.message : String(error)}`);
      });
    },
  });
}

/**
 * The worker's options for `tracing` (null: off). Off, a no-op `exporter` sink is all that is added: a prebuilt
 * bundle built with --tracing holds the workflow interceptor, whose spans then go nowhere instead of an
 * "unregistered sink" error per workflow task.
 */
export function withTracing(options: WorkerOptions, tracing: Tracing | null): WorkerOptions {
  if (tracing) return tracing.worker(options);
  return { ...options, sinks: { exporter: { export: { fn: () => undefined } }, ...options.sinks } };
}
