/**
 * Installing the SDK runtime with the Prometheus endpoint on (METRICS_PORT): the worker and the standalone webhook
 * receiver call this once, before any connection. With an endpoint, the process meter (./process-meter.ts) becomes
 * the runtime's, so what is recorded outside workflows and activities is served too.
 */
import { Runtime, type RuntimeOptions } from '@temporalio/worker';
import { ConfigError } from '../config';
import { withPrometheus } from './metrics';
import { setProcessMeter } from './process-meter';

export function installRuntime(options: RuntimeOptions, endpoint?: { port: number; host: string }): void {
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
  if (endpoint) setProcessMeter(Runtime.instance().metricMeter);
}
