/**
 * Webhooks → workflows: the receiver verifies each Replicate delivery and signals the workflow named in its URL
 * with the prediction, trimmed like an activity result. Runs inside the worker (WEBHOOK_PORT) or alone
 * (`npm run webhooks`).
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { snapshot } from '../activities/snapshot';
import { replicateCall } from '../activities/replicate-client';
import type { Prediction } from '../shared/types';
import { webhookSignal } from '../workflows';
import { WebhookReceiver } from './receiver';

export interface WebhookServiceOptions {
  client: Client;
  port: number;
  host?: string;
  /** `whsec_...`; when null it is fetched once from GET /v1/webhooks/default/secret with the token */
  secret: string | null;
  replicate: { token: string; baseUrl: string };
  log?: (line: string, fields?: Record<string, unknown>) => void;
}

export interface RunningWebhookReceiver {
  /** e.g. http://127.0.0.1:8788 (the public URL is WEBHOOK_BASE_URL) */
  origin: string;
  stats: WebhookReceiver['stats'];
  stop(): Promise<void>;
}

export async function startWebhookReceiver(options: WebhookServiceOptions): Promise<RunningWebhookReceiver> {
  const receiver = new WebhookReceiver({
    port: options.port,
    host: options.host,
    secret:
      options.secret ??
      (async () => {
        const body = await replicateCall(
          options.replicate,
          { operation: 'get the webhook signing secret', timeoutMs: 10_000 },
          (client) => client.webhooks.default.secret.get(),
        );
        return body.key;
      }),
    deliver: async ({ workflowId, body }) => {
      try {
        await options.client.workflow
          .getHandle(workflowId)
          .signal(webhookSignal, snapshot(body as Prediction, { token: options.replicate.token }));
      } catch (error) {
        // The run has closed (or never existed): nothing can use the news, and a 503 would only make Replicate
        // retry for hours. Any other failure (Temporal down) stays a 503, so the delivery is retried.
        if (error instanceof WorkflowNotFoundError) return 'late';
        throw error;
      }
    },
    log: options.log,
  });
  const origin = await receiver.start();
  return { origin, stats: receiver.stats, stop: () => receiver.stop() };
}
