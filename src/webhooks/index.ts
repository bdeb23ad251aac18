/**
 * Webhooks -> workflows (`replicate-temporal/webhooks`): verify each Replicate delivery and signal the workflow
 * named in its URL with the prediction, trimmed like an activity result. Mount the handler in your own server
 * (`createWebhookHandler` + `nodeWebhookHandler` for Node's http or Express; `handler.handle()` for Fastify and
 * others), or run the standalone receiver (`startWebhookReceiver`: in the worker with WEBHOOK_PORT, or alone with
 * `npm run webhooks`).
 */
import { ApplicationFailure, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { snapshot } from '../activities/snapshot';
import { replicateCall } from '../activities/replicate-client';
import { PredictionFailureType } from '../shared/failures';
import type { Prediction } from '../shared/types';
import { webhookSignal } from '../workflows/messages';
import { WebhookHandler, type WebhookHandlerOptions, type WebhookReceiverStats } from './handler';
import { WebhookReceiver } from './receiver';

export { WebhookHandler } from './handler';
export type {
  ReceivedWebhook,
  WebhookHandlerOptions,
  WebhookReceiverStats,
  WebhookRequest,
  WebhookResponse,
} from './handler';
export { nodeWebhookHandler, type NodeHandlerOptions } from './node';
export { REPLICATE_WEBHOOK_PATH, WebhookReceiver, replicateWebhookUrl } from './receiver';
export { verifyWebhook } from './verify';

export interface WebhookHandlerConfig {
  /** where to signal the runs */
  client: Client;
  /** `whsec_...`; when null it is fetched once from GET /v1/webhooks/default/secret with the token */
  secret: string | null;
  /** the token is used only to fetch the secret, and is removed from any text a delivery echoes */
  replicate: { token: string; baseUrl: string };
  log?: WebhookHandlerOptions['log'];
  /**
   * where `replicate_webhooks_total` is counted: e.g. `Runtime.instance().metricMeter` of your own runtime; default
   * the one METRICS_PORT installs (nothing when metrics are off)
   */
  metricMeter?: WebhookHandlerOptions['metricMeter'];
}

/** The handler that verifies Replicate's deliveries and signals the runs they name. */
export function createWebhookHandler(config: WebhookHandlerConfig): WebhookHandler {
  return new WebhookHandler(handlerOptions(config));
}

export interface WebhookServiceOptions extends WebhookHandlerConfig {
  port: number;
  host?: string;
}

export interface RunningWebhookReceiver {
  /** e.g. http://127.0.0.1:8788 (the public URL is WEBHOOK_BASE_URL) */
  origin: string;
  stats: WebhookReceiverStats;
  stop(): Promise<void>;
}

/** The standalone receiver on its own port. */
export async function startWebhookReceiver(options: WebhookServiceOptions): Promise<RunningWebhookReceiver> {
  const receiver = new WebhookReceiver({
    port: options.port,
    host: options.host,
    ...handlerOptions(options),
  });
  const origin = await receiver.start();
  return { origin, stats: receiver.stats, stop: () => receiver.stop() };
}

function handlerOptions(config: WebhookHandlerConfig): WebhookHandlerOptions {
  return {
    secret:
      config.secret ??
      (async () => {
        const body = await replicateCall(
          config.replicate,
          { operation: 'get the webhook signing secret', timeoutMs: 10_000 },
          (client) => client.webhooks.default.secret.get(),
        );
        return body.key;
      }),
    deliver: async ({ workflowId, body }) => {
      let news: ReturnType<typeof snapshot>;
      try {
        news = snapshot(body as Prediction, { token: config.replicate.token });
      } catch (error) {
        // An output nothing can carry (nested too deep): acknowledged, not signaled; the run's own poll meets the
        // same refusal and fails with it.
        if (error instanceof ApplicationFailure && error.type === PredictionFailureType.OutputRefused) return;
        throw error;
      }
      try {
        await config.client.workflow.getHandle(workflowId).signal(webhookSignal, news);
      } catch (error) {
        // The run has closed (or never existed): nothing can use the news, and a 503 would only make Replicate
        // retry for hours. Any other failure (Temporal down) stays a 503, so the delivery is retried.
        if (error instanceof WorkflowNotFoundError) return 'late';
        throw error;
      }
    },
    log: config.log,
    ...(config.metricMeter ? { metricMeter: config.metricMeter } : {}),
  };
}
