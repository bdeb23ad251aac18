/**
 * Webhook delivery, as Replicate does it (docs/replicate-api.md §7):
 * - body = the prediction JSON (GET shape), POSTed to the `webhook` URL; redirects are NOT followed;
 * - Standard Webhooks signature: `webhook-id` (stable across retries), `webhook-timestamp` (unix s),
 *   `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<ts>.<body>")>`, key = base64-decode after `whsec_`;
 * - only the terminal (`completed`) delivery is retried (connection error or any non-2xx), with backoff;
 *   `start` and `logs` deliveries are fire-and-forget.
 */
import { createHmac, randomBytes } from 'node:crypto';

export type WebhookEvent = 'start' | 'output' | 'logs' | 'completed';
export const WEBHOOK_EVENTS: readonly WebhookEvent[] = ['start', 'output', 'logs', 'completed'];

/** Replicate's default filter when none is given: outputs + completion (§7). */
export const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEvent[] = ['output', 'completed'];

/** Delays before each retry of a terminal delivery; the last is about a minute after completion (§7). */
export const DEFAULT_WEBHOOK_RETRY_DELAYS_MS: readonly number[] = [1000, 2000, 4000, 8000, 16000, 30000];

export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/** `v1,<base64>` signature of one delivery. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** One attempt to deliver a webhook, as recorded by the simulator. */
export interface WebhookDelivery {
  at: number;
  predictionId: string;
  event: WebhookEvent;
  status: string;
  url: string;
  webhookId: string;
  attempt: number;
  /** HTTP status answered by the receiver; 0 = connection error or timeout; -1 = dropped by a fault */
  responseStatus: number;
}

export interface DeliveryJob {
  url: string;
  predictionId: string;
  event: WebhookEvent;
  status: string;
  body: string;
  retry: boolean;
}

export interface WebhookSenderOptions {
  secret: () => string;
  now: () => number;
  retryDelaysMs: () => readonly number[];
  /** probability (0..1) that one attempt is silently not sent (simulates a lost webhook) */
  dropRate: () => number;
  /** probability that a successful delivery is sent a second time (duplicates happen, §7) */
  duplicateRate: () => number;
  random: () => number;
  record: (d: WebhookDelivery) => void;
  timeoutMs?: number;
}

export class WebhookSender {
  private readonly timers = new Set<NodeJS.Timeout>();
  private abort = new AbortController();

  constructor(private readonly opts: WebhookSenderOptions) {}

  send(job: DeliveryJob): void {
    const webhookId = `msg_${randomBytes(18).toString('base64url')}`;
    void this.attempt(job, webhookId, 1);
  }

  /** Stops pending retries and aborts in-flight deliveries. */
  cancelAll(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.abort.abort();
    this.abort = new AbortController();
  }

  private async attempt(job: DeliveryJob, webhookId: string, attempt: number): Promise<void> {
    const signal = this.abort.signal;
    let responseStatus: number;
    if (this.opts.random() < this.opts.dropRate()) {
      responseStatus = -1;
    } else {
      responseStatus = await this.post(job, webhookId, signal);
      if (signal.aborted) return;
      if (responseStatus >= 200 && responseStatus < 300 && this.opts.random() < this.opts.duplicateRate()) {
        await this.post(job, webhookId, signal);
      }
    }
    this.opts.record({
      at: this.opts.now(),
      predictionId: job.predictionId,
      event: job.event,
      status: job.status,
      url: job.url,
      webhookId,
      attempt,
      responseStatus,
    });
    // Retried only on a connection error or a 4xx/5xx. A 3xx is not followed and not retried: lost (§7).
    // A dropped attempt (fault) looks delivered to the sender, so it is not retried either.
    const failed = responseStatus === 0 || responseStatus >= 400;
    const delay = this.opts.retryDelaysMs()[attempt - 1];
    if (!failed || !job.retry || delay === undefined || signal.aborted) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.attempt(job, webhookId, attempt + 1);
    }, delay);
    timer.unref();
    this.timers.add(timer);
  }

  private async post(job: DeliveryJob, webhookId: string, signal: AbortSignal): Promise<number> {
    const timestamp = Math.floor(this.opts.now() / 1000);
    try {
      const res = await fetch(job.url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.opts.timeoutMs ?? 5000)]),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Replicate-Webhooks/sim',
          'webhook-id': webhookId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signWebhook(this.opts.secret(), webhookId, timestamp, job.body),
        },
        body: job.body,
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.status;
    } catch {
      return 0;
    }
  }
}
