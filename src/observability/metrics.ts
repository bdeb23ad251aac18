/**
 * The project's Prometheus metrics: their names, labels and buckets (a contract: dashboards and alerts query them),
 * the exporter's options, and one small function per metric that records on any SDK `MetricMeter` (the workflow's
 * replay-safe `metricMeter`, an activity's `Context.current().metricMeter`, or the process meter of
 * ./process-meter.ts). No hand-made registry: the SDK's runtime serves these next to its own `temporal_*` metrics.
 *
 * Workflow-safe: type-only imports, no Node modules, no state.
 *
 * Found empirically with @temporalio/worker 1.24 (docs/observability.md, Metrics): the exporter serves custom metrics under the
 * exact name given (`metricPrefix` = `temporal_` applies to the SDK's own metrics only), adds no `_total` to
 * counters (countersTotalSuffix defaults to false: the `_total` is in our names), and gives every histogram the
 * millisecond buckets 50..10000 unless `histogramBucketOverrides` names it: ours are in seconds, so they get their
 * own buckets. The SDK's defaults are otherwise kept, so its `temporal_*` metrics keep their documented names and
 * units. The SDK adds its context labels to what workflows and activities record (`namespace`, `taskQueue`, and
 * `workflowType` or `activityType`): aggregate with `sum by (<contract labels>)`.
 */
import type { MetricMeter } from '@temporalio/common';
import type { RuntimeOptions } from '@temporalio/worker';

/**
 * How a run ended: Replicate's terminal status, our deadline (`timed_out`), or `cached`: the result cache served it
 * (no prediction created, nothing paid).
 */
export type RunEndStatus = 'succeeded' | 'failed' | 'canceled' | 'aborted' | 'timed_out' | 'cached';
/** Which Replicate endpoint an HTTP exchange went to. */
export type ApiOperation = 'create' | 'get' | 'cancel' | 'list';
/** How the run learned that its job had ended. */
export type LagSource = 'webhook' | 'poll';
/** What the webhook handler did with a delivery. */
export type WebhookOutcome = 'accepted' | 'duplicate' | 'rejected' | 'late';

export const API_OPERATIONS: readonly ApiOperation[] = ['create', 'get', 'cancel', 'list'];

interface MetricDefinition {
  kind: 'counter' | 'histogram';
  help: string;
  /** the contract labels (the SDK's context labels come on top) */
  labels: readonly string[];
  /** histograms: bucket upper bounds, seconds */
  buckets?: readonly number[];
}

export const METRIC_DEFINITIONS = {
  replicate_predictions_total: {
    kind: 'counter',
    help: 'Runs ended, one per run at its end: succeeded, failed, canceled, aborted, timed_out, cached (served by the result cache, nothing paid)',
    labels: ['model', 'status'],
  },
  replicate_predict_time_seconds: {
    kind: 'histogram',
    help: "Replicate's metrics.predict_time of ended jobs, seconds",
    labels: ['model'],
    buckets: [0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600],
  },
  replicate_api_requests_total: {
    kind: 'counter',
    help: 'HTTP exchanges with Replicate by operation (create, get, cancel, list) and status code (or network)',
    labels: ['operation', 'code'],
  },
  replicate_completion_lag_seconds: {
    kind: 'histogram',
    help: "When the run learned that its job ended minus Replicate's completed_at, seconds, by source (webhook, poll)",
    labels: ['source'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  },
  replicate_adoptions_total: {
    kind: 'counter',
    help: "Jobs adopted by a retried create (a lost attempt's job, not created twice)",
    labels: [],
  },
  replicate_orphans_canceled_total: {
    kind: 'counter',
    help: 'Orphaned jobs canceled by the reconciler',
    labels: [],
  },
  replicate_webhooks_total: {
    kind: 'counter',
    help: 'Webhook deliveries by outcome: accepted, duplicate, rejected, late',
    labels: ['outcome'],
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricName = keyof typeof METRIC_DEFINITIONS;

/** The contract metric names, as served on /metrics. */
export const METRIC_NAMES = Object.keys(METRIC_DEFINITIONS) as MetricName[];

/** The Prometheus part of the runtime's telemetry options: /metrics on `host:port`, our histograms' buckets. */
export function prometheusMetrics(endpoint: {
  port: number;
  host: string;
}): NonNullable<NonNullable<RuntimeOptions['telemetryOptions']>['metrics']> {
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host; // IPv6
  return {
    prometheus: {
      bindAddress: `${host}:${endpoint.port}`,
      histogramBucketOverrides: {
        replicate_predict_time_seconds: [...METRIC_DEFINITIONS.replicate_predict_time_seconds.buckets],
        replicate_completion_lag_seconds: [...METRIC_DEFINITIONS.replicate_completion_lag_seconds.buckets],
      },
    },
  };
}

/** Runtime options with the Prometheus endpoint added (unchanged when `endpoint` is undefined: metrics off). */
export function withPrometheus(
  options: RuntimeOptions,
  endpoint: { port: number; host: string } | undefined,
): RuntimeOptions {
  if (!endpoint) return options;
  return {
    ...options,
    telemetryOptions: { ...options.telemetryOptions, metrics: prometheusMetrics(endpoint) },
  };
}

function counter(meter: MetricMeter, name: MetricName) {
  return meter.createCounter(name, undefined, METRIC_DEFINITIONS[name].help);
}

function histogram(meter: MetricMeter, name: MetricName) {
  return meter.createHistogram(name, 'float', 's', METRIC_DEFINITIONS[name].help);
}

export function countRunEnd(meter: MetricMeter, model: string, status: RunEndStatus): void {
  counter(meter, 'replicate_predictions_total').add(1, { model, status });
}

export function recordPredictTime(meter: MetricMeter, model: string, seconds: number): void {
  if (Number.isFinite(seconds) && seconds >= 0)
    histogram(meter, 'replicate_predict_time_seconds').record(seconds, { model });
}

export function countApiRequest(meter: MetricMeter, operation: ApiOperation, code: number | 'network'): void {
  counter(meter, 'replicate_api_requests_total').add(1, { operation, code: String(code) });
}

/** A clock a little behind Replicate's would make the lag negative: it counts as 0. */
export function recordCompletionLag(meter: MetricMeter, source: LagSource, seconds: number): void {
  if (Number.isFinite(seconds))
    histogram(meter, 'replicate_completion_lag_seconds').record(Math.max(0, seconds), { source });
}

export function countAdoption(meter: MetricMeter): void {
  counter(meter, 'replicate_adoptions_total').add(1);
}

export function countOrphansCanceled(meter: MetricMeter, count: number): void {
  counter(meter, 'replicate_orphans_canceled_total').add(count);
}

export function countWebhook(meter: MetricMeter, outcome: WebhookOutcome): void {
  counter(meter, 'replicate_webhooks_total').add(1, { outcome });
}

/**
 * The endpoint an HTTP exchange went to, from its operation text ("create prediction for m", "cancel extra
 * prediction x", "get the webhook signing secret", "list predictions"): every call site already names it there.
 */
export function apiOperationOf(operation: string): ApiOperation | undefined {
  const word = operation.split(' ', 1)[0] as ApiOperation;
  return API_OPERATIONS.includes(word) ? word : undefined;
}
