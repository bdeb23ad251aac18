/**
 * The meter for metrics recorded outside workflows and activities (the webhook handler, the webhook secret's
 * fetch): a no-op until the process turns its Prometheus endpoint on (METRICS_PORT), then the SDK runtime's meter.
 * A settable process-wide meter (like OpenTelemetry's global MeterProvider) rather than `Runtime.instance()`
 * here: that call would create a runtime in any process that imports the webhook handler (a user's web server),
 * and load the native SDK with it.
 */
import { noopMetricMeter, type MetricMeter } from '@temporalio/common';

let current: MetricMeter = noopMetricMeter;

/** Called once the runtime serves /metrics: `setProcessMeter(Runtime.instance().metricMeter)`. */
export function setProcessMeter(meter: MetricMeter): void {
  current = meter;
}

export function processMeter(): MetricMeter {
  return current;
}
