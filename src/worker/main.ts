/** `npm run worker` (and the container's CMD): read the configuration, then run the workers until a signal. */
import { ConfigError, readWorkerConfig, type WorkerConfig } from '../config';
import { processLogFromEnv } from '../observability/log';
import { installRuntime } from '../observability/metrics-endpoint';
import { readTracingConfig } from '../observability/tracing';
import { runWorker } from '.';
import { workerRuntimeOptions } from './logging';

const { log, problem } = processLogFromEnv('worker');
if (problem) {
  log.error(problem.message);
  process.exit(2);
}
let config: WorkerConfig;
try {
  config = readWorkerConfig();
  readTracingConfig(); // a bad OTEL_* value exits 2 here too, before connecting
  // METRICS_PORT: the runtime also serves Prometheus' /metrics (src/observability/metrics.ts)
  installRuntime(workerRuntimeOptions(config.address, log), config.metrics, [
    ...(config.metricsModels ?? []),
    ...Object.keys(config.modelConcurrency ?? {}),
  ]);
  if (config.metrics)
    log.info(`Prometheus metrics on ${config.metrics.host}:${config.metrics.port}, GET /metrics`);
} catch (error) {
  if (error instanceof ConfigError) {
    log.error(error.message);
    process.exit(2);
  }
  throw error;
}
runWorker(config, log).then(
  () => process.exit(0),
  (error: unknown) => {
    log.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
