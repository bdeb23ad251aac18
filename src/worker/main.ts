/** `npm run worker` (and the container's CMD): read the configuration, then run the workers until a signal. */
import { ConfigError, readWorkerConfig, type WorkerConfig } from '../config';
import { processLogFromEnv } from '../observability/log';
import { installRuntime } from '../observability/metrics-endpoint';
import { readTracingConfig } from '../observability/tracing';
import { runWorker } from '.';
import { workerRuntimeOptions } from './logging';

const { log, problem } = processLogFromEnv('worker');

/** The configuration and the runtime (with /metrics when METRICS_PORT is set); a ConfigError exits 2. */
async function configure(): Promise<WorkerConfig> {
  if (problem) throw problem;
  const config = readWorkerConfig();
  readTracingConfig(); // a bad OTEL_* value exits 2 here too, before connecting
  // METRICS_PORT: our server answers /metrics from the runtime's exporter (src/observability/metrics-endpoint.ts)
  const metrics = await installRuntime(workerRuntimeOptions(config.address, log), config.metrics, [
    ...(config.metricsModels ?? []),
    ...Object.keys(config.modelConcurrency ?? {}),
  ]);
  if (config.metrics && metrics)
    log.info(`Prometheus metrics on ${config.metrics.host}:${metrics.port}, GET /metrics`);
  return config;
}

configure()
  .catch((error: unknown) => {
    if (error instanceof ConfigError) {
      log.error(error.message);
      process.exit(2);
    }
    throw error;
  })
  .then((config) => runWorker(config, log))
  .then(
    () => process.exit(0),
    (error: unknown) => {
      log.error(error instanceof Error ? error.message : String(error));
      process.exit(1);
    },
  );
