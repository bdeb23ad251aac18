/**
 * `npm run webhooks`: the webhook receiver on its own (WEBHOOK_PORT, default 8788; `-- --help`: USAGE). Its lines are text or one JSON
 * object each (LOG_FORMAT), through src/observability/log.ts.
 */
import { Client, Connection } from '@temporalio/client';
import { ConfigError, readWorkerConfig, temporalConnectionOptions } from '../config';
import { temporalConnectFailed } from '../dev/hints';
import { dataConverterOf } from '../encryption/data-converter';
import { processLogFromEnv } from '../observability/log';
import { startWebhookReceiver } from './index';

const { log, problem } = processLogFromEnv('webhooks');

const USAGE = `usage: npm run webhooks
The webhook receiver on its own (the worker can also serve it, with WEBHOOK_PORT): it verifies Replicate's signed
deliveries to POST /webhooks/replicate?workflow=<id> and signals the runs. No flags; its settings are environment
variables (docs/configuration.md):
  WEBHOOK_PORT, WEBHOOK_HOST    where it listens (default 8788 on 0.0.0.0)
  REPLICATE_WEBHOOK_SECRET      the signing secret (else fetched once from Replicate with REPLICATE_API_TOKEN)
  REPLICATE_API_TOKEN           required; REPLICATE_BASE_URL for the simulator
  TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*   the Temporal server of the runs
  METRICS_PORT, LOG_FORMAT=json  Prometheus metrics, JSON log lines`;

async function main(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(USAGE);
    return;
  }
  if (args.length > 0)
    throw new ConfigError(
      // exit 2, as for a bad setting
      `takes no arguments (got ${args.join(' ')}): its settings are environment variables; npm run webhooks -- --help lists them`,
    );
  if (problem) throw problem;
  const config = readWorkerConfig({ WEBHOOK_PORT: '8788', ...process.env });
  let metrics: { stop(): Promise<void> } | undefined;
  if (config.metrics) {
    // METRICS_PORT: replicate_webhooks_total (and the secret fetch's request) on /metrics; the SDK runtime is
    // loaded only then
    const { installRuntime } = await import('../observability/metrics-endpoint.js');
    metrics = await installRuntime({}, config.metrics);
    log.info(`Prometheus metrics on ${config.metrics.host}:${config.metrics.port}, GET /metrics`);
  }
  const connection = await Connection.connect(temporalConnectionOptions(config)).catch(
    async (error: unknown) => {
      throw new Error(await temporalConnectFailed(config, (error as Error).message));
    },
  );
  const receiver = await startWebhookReceiver({
    // ENCRYPTION_KEY: the signals it sends (the prediction's snapshot) are encrypted like everything else
    client: new Client({ connection, namespace: config.namespace, dataConverter: dataConverterOf(config) }),
    port: config.webhook?.port ?? 8788,
    host: process.env.WEBHOOK_HOST || '0.0.0.0',
    secret: config.webhook?.secret ?? null,
    replicate: { token: config.replicateToken, baseUrl: config.replicateBaseUrl },
    log: (line, fields) => log.warn(line, fields),
  });
  log.info(
    `webhook receiver on port ${config.webhook?.port ?? 8788}, POST /webhooks/replicate?workflow=<id>`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await receiver.stop();
  await connection.close();
  await metrics?.stop();
}

main(process.argv.slice(2)).catch((error: unknown) => {
  log.error(error instanceof Error ? error.message : String(error));
  process.exit(error instanceof ConfigError ? 2 : 1);
});
