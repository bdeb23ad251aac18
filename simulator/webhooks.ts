/**
 * Webhook delivery as Replicate does it (docs/replicate-api.md §7): signed, only the terminal delivery retried,
 * with drop, duplicate, delay and reorder faults.
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

function newWebhookId(): string {
  return `msg_${randomBytes(18).toString('base64url')}`;
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
  /** every delivery attempt (retries too) waits this long before being sent */
  delayMs?: () => number;
  /** hold intermediate events (start, output, logs) until settle() of their prediction */
  reorder?: () => boolean;
  random: () => number;
  record: (d: WebhookDelivery) => void;
  timeoutMs?: number;
}

export class WebhookSender {
  private readonly timers = new Set<NodeJS.Timeout>();
  private abort = new AbortController();
  /** reorder fault: intermediate jobs held per prediction, in send order */
  private readonly held = new Map<string, DeliveryJob[]>();
  /** reorder fault: first attempt of each prediction's `completed` delivery, awaited before releasing held jobs */
  private readonly completing = new Map<string, Promise<void>>();

  constructor(private readonly opts: WebhookSenderOptions) {}

  send(job: DeliveryJob): void {
    if (job.event !== 'completed' && this.opts.reorder?.()) {
      const jobs = this.held.get(job.predictionId) ?? [];
      jobs.push(job);
      this.held.set(job.predictionId, jobs);
      return;
    }
    const first = this.attempt(job, newWebhookId(), 1);
    if (job.event === 'completed') {
      this.completing.set(job.predictionId, first);
      void first.then(() => {
        if (this.completing.get(job.predictionId) === first) this.completing.delete(job.predictionId);
      });
    }
  }

  /**
   * The prediction is terminal and all its events were handed to send(): jobs held by the reorder fault go out
   * one after the other, after the first attempt of its `completed` delivery (at once when there is none).
   */
  settle(predictionId: string): void {
    const jobs = this.held.get(predictionId);
    if (jobs === undefined) return;
    this.held.delete(predictionId);
    const signal = this.abort.signal;
    const after = this.completing.get(predictionId) ?? Promise.resolve();
    void (async () => {
      await after;
      for (const job of jobs) {
        if (signal.aborted) return;
        await this.attempt(job, newWebhookId(), 1);
      }
    })();
  }

  /** Stops pending retries, held and delayed deliveries, and aborts in-flight ones. */
  cancelAll(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.held.clear();
    this.completing.clear();
    this.abort.abort();
    this.abort = new AbortController();
  }

  private async attempt(job: DeliveryJob, webhookId: string, attempt: number): Promise<void> {
    const signal = this.abort.signal;
    const delayMs = this.opts.delayMs?.() ?? 0;
    if (delayMs > 0) {
      await this.sleep(delayMs, signal);
      if (signal.aborted) return;
    }
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

  /** Resolves after ms, or at once when signal aborts. */
  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.timers.delete(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.timers.add(timer);
      signal.addEventListener('abort', done);
    });
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
