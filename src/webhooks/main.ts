/**
 * `npm run webhooks`: the webhook receiver on its own (WEBHOOK_PORT, default 8788). Its lines are text or one JSON
 * object each (LOG_FORMAT), through src/observability/log.ts.
 */
import { Client, Connection } from '@temporalio/client';
import { ConfigError, readWorkerConfig, temporalConnectionOptions } from '../config';
import { temporalConnectFailed } from '../dev/hints';
import { dataConverterOf } from '../encryption/data-converter';
import { processLogFromEnv } from '../observability/log';
import { startWebhookReceiver } from './index';

const { log, problem } = processLogFromEnv('webhooks');

async function main(): Promise<void> {
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

main().catch((error: unknown) => {
  log.error(error instanceof Error ? error.message : String(error));
  process.exit(error instanceof ConfigError ? 2 : 1);
});
