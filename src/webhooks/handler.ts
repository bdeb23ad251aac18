/**
 * The webhook handler, independent of any HTTP server: give it a delivery's headers, raw body and target workflow
 * id, get back the status and JSON body to answer. Mount it in Node's `http`, Express or Fastify (./node.ts,
 * docs/webhooks.md), or run the standalone receiver (./receiver.ts). Checks, in order: signature headers + HMAC +
 * timestamp (401) -> workflow id (400) -> JSON (400) -> replay (200 duplicate) -> deliver (200; 200 `late` for a
 * closed run; 503 when delivery fails, and the id is not remembered so Replicate's retry gets through).
 * Never logs the secret or bodies; one log line per rejection with its reason.
 */
import type { MetricMeter } from '@temporalio/common';
import { countWebhook, type WebhookOutcome } from '../observability/metrics';
import { processMeter } from '../observability/process-meter';
import { DEFAULT_WEBHOOK_TOLERANCE_MS, verifyWebhook } from './verify';

export const DEFAULT_REPLAY_WINDOW_MS = 10 * 60 * 1000;
export const DEFAULT_REPLAY_MAX_ENTRIES = 100_000;

export interface ReceivedWebhook {
  workflowId: string;
  webhookId: string;
  /** parsed JSON: the prediction */
  body: unknown;
}

export interface WebhookHandlerOptions {
  /** the signing secret, or a function fetching it once (cached after the first success) */
  secret: string | (() => Promise<string>);
  /**
   * deliver to the owning workflow; reject -> the handler answers 503 so Replicate retries, and the id is NOT
   * remembered. Resolve 'late' when the run has already closed (or never existed): the handler answers 200, so
   * Replicate stops retrying, logs it once and remembers the id.
   */
  deliver: (webhook: ReceivedWebhook) => Promise<void | 'late'>;
  /** default 5 min */
  toleranceMs?: number;
  /** how long accepted webhook-ids are remembered (default 10 min: twice the timestamp tolerance) */
  replayWindowMs?: number;
  /** bound of the replay map (default 100k); the oldest ids are evicted first */
  replayMaxEntries?: number;
  now?: () => number;
  /** default: one line on stderr */
  log?: (line: string, fields?: Record<string, unknown>) => void;
  /** where `replicate_webhooks_total{outcome}` counts; default the process meter (METRICS_PORT, else a no-op) */
  metricMeter?: MetricMeter;
}

export interface WebhookRequest {
  /** the request's headers (Node's, Express's and Fastify's `headers` objects all fit) */
  headers: Record<string, string | string[] | undefined>;
  /** the RAW body bytes, exactly as received: the signature covers them */
  body: Uint8Array | string;
  /** the `workflow` query parameter of the webhook URL */
  workflowId: string | undefined;
}

export interface WebhookResponse {
  status: number;
  body: Record<string, unknown>;
}

export interface WebhookReceiverStats {
  accepted: number;
  duplicates: number;
  /** verified deliveries for a run that had already closed (or does not exist): acknowledged, not signaled */
  late: number;
  /** by reason: too-large, missing-headers, bad-timestamp, stale, bad-signature, missing-workflow, bad-json,
   * parsed-body, deliver-failed, secret-unavailable, not-found, method-not-allowed, aborted, internal */
  rejected: Record<string, number>;
}

const defaultLog = (line: string, fields?: Record<string, unknown>): void => {
  console.error(fields === undefined ? line : `${line} ${JSON.stringify(fields)}`);
};

export class WebhookHandler {
  readonly stats: WebhookReceiverStats = { accepted: 0, duplicates: 0, late: 0, rejected: {} };

  private readonly toleranceMs: number;
  private readonly replayWindowMs: number;
  private readonly replayMaxEntries: number;
  private readonly now: () => number;
  private readonly log: (line: string, fields?: Record<string, unknown>) => void;
  /** accepted webhook-id -> accepted at (ms); insertion order = age order */
  private readonly seen = new Map<string, number>();
  /** webhook-id -> deliver in progress (resolves true when it succeeded) */
  private readonly inFlight = new Map<string, Promise<boolean>>();
  private secretValue: string | undefined;
  private secretFetch: Promise<string> | undefined;

  constructor(private readonly options: WebhookHandlerOptions) {
    this.toleranceMs = options.toleranceMs ?? DEFAULT_WEBHOOK_TOLERANCE_MS;
    this.replayWindowMs = options.replayWindowMs ?? DEFAULT_REPLAY_WINDOW_MS;
    this.replayMaxEntries = options.replayMaxEntries ?? DEFAULT_REPLAY_MAX_ENTRIES;
    this.now = options.now ?? Date.now;
    this.log = options.log ?? defaultLog;
    if (typeof options.secret === 'string') this.secretValue = options.secret;
  }

  /** Verify one delivery and hand it to its workflow; never throws. */
  async handle(request: WebhookRequest): Promise<WebhookResponse> {
    const workflowId = request.workflowId || undefined;
    const webhookId = header(request.headers, 'webhook-id');
    const ctx = { workflowId, webhookId };
    try {
      let secret: string;
      try {
        secret = await this.secret();
      } catch (err) {
        return this.reject(503, 'secret-unavailable', { ...ctx, error: errorMessage(err) });
      }
      const body = typeof request.body === 'string' ? Buffer.from(request.body, 'utf8') : request.body;
      const verified = verifyWebhook(
        {
          id: webhookId,
          timestamp: header(request.headers, 'webhook-timestamp'),
          signature: header(request.headers, 'webhook-signature'),
        },
        Buffer.from(body.buffer, body.byteOffset, body.byteLength),
        secret,
        this.now(),
        this.toleranceMs,
      );
      if (!verified.ok) return this.reject(401, verified.reason, ctx);
      const id = webhookId as string; // verified: present

      if (!workflowId) return this.reject(400, 'missing-workflow', ctx);
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(body).toString('utf8'));
      } catch {
        return this.reject(400, 'bad-json', ctx);
      }

      // Replay: an id accepted within the window is answered 2xx (stops Replicate's retries) without deliver.
      // A concurrent copy waits for the first one's deliver, then re-checks.
      for (;;) {
        if (this.isSeen(id)) {
          this.stats.duplicates++;
          this.counted('duplicate');
          return { status: 200, body: { duplicate: true } };
        }
        const pending = this.inFlight.get(id);
        if (pending === undefined) break;
        await pending;
      }

      let failure: unknown;
      let late = false;
      const delivering = Promise.resolve()
        .then(() => this.options.deliver({ workflowId, webhookId: id, body: parsed }))
        .then(
          (outcome) => {
            late = outcome === 'late';
            return true;
          },
          (err: unknown) => {
            failure = err;
            return false;
          },
        );
      this.inFlight.set(id, delivering);
      const delivered = await delivering;
      this.inFlight.delete(id);
      if (!delivered) return this.reject(503, 'deliver-failed', { ...ctx, error: errorMessage(failure) });
      this.remember(id);
      if (late) {
        // 2xx stops Replicate's retries; remembered, so a retry already on its way is a quiet duplicate.
        this.stats.late++;
        this.counted('late');
        this.log('webhook for a run that has closed or does not exist: acknowledged, not delivered', ctx);
        return { status: 200, body: { ok: true, late: true } };
      }
      this.stats.accepted++;
      this.counted('accepted');
      return { status: 200, body: { ok: true } };
    } catch (err) {
      return this.reject(500, 'internal', { ...ctx, error: errorMessage(err) });
    }
  }

  /** Count and log a rejection (adapters use it for what they refuse before `handle`: size, route). */
  reject(status: number, reason: string, fields: Record<string, unknown> = {}): WebhookResponse {
    this.count(reason, { status, ...fields });
    return { status, body: { error: reason } };
  }

  /** Count and log a delivery that ended without an answer (the sender went away). */
  count(reason: string, fields: Record<string, unknown>): void {
    this.stats.rejected[reason] = (this.stats.rejected[reason] ?? 0) + 1;
    this.counted('rejected');
    this.log('webhook rejected', { reason, ...dropUndefined(fields) });
  }

  private counted(outcome: WebhookOutcome): void {
    countWebhook(this.options.metricMeter ?? processMeter(), outcome);
  }

  private secret(): Promise<string> {
    if (this.secretValue !== undefined) return Promise.resolve(this.secretValue);
    const fetchSecret = this.options.secret;
    if (typeof fetchSecret === 'string') return Promise.resolve(fetchSecret);
    // One fetch at a time; cached after the first success, fetched again by the next request after a failure.
    this.secretFetch ??= (async () => {
      try {
        const value = await Promise.resolve().then(fetchSecret);
        if (typeof value !== 'string' || value === '') throw new Error('webhook secret is empty');
        this.secretValue = value;
        return value;
      } finally {
        this.secretFetch = undefined;
      }
    })();
    return this.secretFetch;
  }

  private isSeen(id: string): boolean {
    this.prune();
    return this.seen.has(id);
  }

  private remember(id: string): void {
    this.seen.delete(id);
    this.seen.set(id, this.now());
    while (this.seen.size > this.replayMaxEntries) {
      const oldest = this.seen.keys().next();
      if (oldest.done) break;
      this.seen.delete(oldest.value);
    }
  }

  /** Drops ids older than the window (from the oldest; insertion order is acceptance order). */
  private prune(): void {
    const cutoff = this.now() - this.replayWindowMs;
    for (const [id, at] of this.seen) {
      if (at > cutoff) break;
      this.seen.delete(id);
    }
  }
}

function header(headers: WebhookRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function dropUndefined(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}
