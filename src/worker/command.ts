/**
 * The worker as a command (`npm run worker`, `npx replicate-temporal worker`, the container's CMD): `--help`, or
 * read the configuration, then run the workers until a signal. Resolves to the exit code.
 */
import { ConfigError, readWorkerConfig, type WorkerConfig } from '../config';
import { processLogFromEnv } from '../observability/log';
import { installRuntime } from '../observability/metrics-endpoint';
import { readTracingConfig } from '../observability/tracing';
import { runWorker } from '.';
import { workerRuntimeOptions } from './logging';
import { WORKER_USAGE, workerArgs } from './usage';

export async function workerCommand(args: string[]): Promise<number> {
  const asked = workerArgs(args);
  if (asked === 'help') {
    console.log(WORKER_USAGE);
    return 0;
  }
  const { log, problem } = processLogFromEnv('worker');
  if (typeof asked === 'object') {
    log.error(asked.error);
    return 2;
  }
  if (problem) {
    log.error(problem.message);
    return 2;
  }
  let config: WorkerConfig;
  try {
    config = readWorkerConfig();
    readTracingConfig(); // a bad OTEL_* value exits 2 here too, before connecting
    // METRICS_PORT: our server answers /metrics from the runtime's exporter (src/observability/metrics-endpoint.ts)
    const metrics = await installRuntime(workerRuntimeOptions(config.address, log), config.metrics, [
      ...(config.metricsModels ?? []),
      ...Object.keys(config.modelConcurrency ?? {}),
    ]);
    if (config.metrics && metrics)
      log.info(`Prometheus metrics on ${config.metrics.host}:${metrics.port}, GET /metrics`);
  } catch (error) {
    if (error instanceof ConfigError) {
      log.error(error.message);
      return 2;
    }
    throw error;
  }
  return runWorker(config, log).then(
    () => 0,
    (error: unknown) => {
      log.error(error instanceof Error ? error.message : String(error));
      return 1;
    },
  );
}
