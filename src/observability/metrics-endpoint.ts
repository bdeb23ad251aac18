/**
 * Installing the SDK runtime with the Prometheus endpoint on (METRICS_PORT): the worker and the standalone webhook
 * receiver call this once, before any connection. With an endpoint, the process meter (./process-meter.ts) becomes
 * the runtime's, so what is recorded outside workflows and activities is served too.
 */
import type { MetricMeter } from '@temporalio/common';
import { Runtime, type RuntimeOptions } from '@temporalio/worker';
import { ConfigError } from '../config';
import { withPrometheus } from './metrics';
import { ModelLabels, withBoundedModelLabels } from './model-labels';
import { setProcessMeter } from './process-meter';

/**
 * `namedModels` (METRICS_MODELS, REPLICATE_MODEL_CONCURRENCY's models) always keep their name in the `model`
 * label; other models once one of their runs succeeded here (./model-labels.ts).
 */
export function installRuntime(
  options: RuntimeOptions,
  endpoint?: { port: number; host: string },
  namedModels: string[] = [],
): void {
  try {
    Runtime.install(withPrometheus(options, endpoint));
  } catch (error) {
    const reason = (error as Error).message;
    if (endpoint && /prometheus|socket/i.test(reason)) {
      throw new ConfigError(
        `METRICS_PORT=${endpoint.port}: cannot serve /metrics on ${endpoint.host}:${endpoint.port} (${reason}); choose a free port or unset METRICS_PORT`,
      );
    }
    throw error;
  }
  if (!endpoint) return;
  const runtime = Runtime.instance();
  // Workers record through the runtime's meter, the workflows' metrics included (the SDK's metrics sink uses it):
  // wrapping it here bounds every `model` label of this process. The SDK offers no hook to map label values, and a
  // sink of our own would fail with "unregistered external sink" in workers that embed our workflows.
  (runtime as { metricMeter: MetricMeter }).metricMeter = withBoundedModelLabels(
    runtime.metricMeter,
    new ModelLabels(namedModels),
  );
  setProcessMeter(runtime.metricMeter);
}
