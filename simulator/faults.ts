/**
 * Fault injection (the knobs are listed in simulator/README.md): server errors, 429s with the delay in a
 * header, the body or only the text, latency, connection resets around a create, and the rate-limit headers
 * every /v1 answer carries. One seeded PRNG drives every random fault, webhook faults included.
 */
import type { ServerResponse } from 'node:http';
import { HttpProblem, mulberry32, problem, sendProblem, sendText } from './http';

export interface Faults {
  /** probability 0..1 that any /v1 request answers 500/502/503 (problem+json or plain text) */
  serverErrorRate?: number;
  /** which requests serverErrorRate applies to: 'all' (default), 'get' (status reads of predictions and trainings only, e.g. an outage of GETs), 'create' */
  serverErrorRoutes?: 'all' | 'get' | 'create';
  /** a create is received, then committed this many ms later (created_at and the Cancel-After deadline count from the commit), then answered: a slow Replicate whose answer may come after the client gave up. The prediction is stored even when the client has disconnected meanwhile. */
  createCommitDelayMs?: number;
  /** with createCommitDelayMs: only the next N creates that reach the commit (not those answered 429, 4xx or reset before) are committed late, the others at once. Unset: every create is late. */
  lateCommitNext?: number;
  /** extra latency added to every /v1 response, ms */
  latencyMs?: number;
  /** probability that a create request's connection is destroyed BEFORE the prediction is stored */
  resetBeforeStoreRate?: number;
  /** probability that a create request's connection is destroyed AFTER the prediction is stored (the dangerous case: the prediction exists and runs, the client never learns its id) */
  resetAfterStoreRate?: number;
  /** the next N /v1 requests (any route, or only creates if rateLimitRoutes==='create') answer 429 */
  rateLimitNext?: number;
  rateLimitRoutes?: 'all' | 'create';
  /** a 429 storm: every /v1 request (or only creates, per rateLimitRoutes) answers 429 until this time (ms since the epoch, on the simulator's clock), e.g. an account low on credit */
  rateLimitUntilMs?: number;
  /** how the 429 tells the delay: 'header' = `Retry-After: <s>` header; 'body' = JSON `retry_after: <s>`; 'detail' = only the text "Request was throttled. Expected available in <s> seconds." */
  rateLimitStyle?: 'header' | 'body' | 'detail';
  rateLimitRetryAfterSeconds?: number; // default 1
  /** probability that one webhook delivery attempt is silently lost */
  webhookDropRate?: number;
  /** probability that a delivered webhook is delivered a second time (same webhook-id) */
  webhookDuplicateRate?: number;
  /** every webhook delivery attempt (retries too) waits this long before being sent, ms */
  webhookDelayMs?: number;
  /** a prediction's intermediate events (start, output, logs) are held and delivered after its completed event */
  webhookReorder?: boolean;
}

export class FaultInjector {
  private faults: Faults = {};
  private readonly bucketHits = new Map<string, number[]>();
  private readonly rng: () => number;

  constructor(
    seed: number,
    private readonly clock: () => number,
  ) {
    this.rng = mulberry32(seed);
  }

  /** The faults in force (a copy is kept: later changes to the argument do not apply). */
  get current(): Faults {
    return this.faults;
  }

  set(faults: Faults): void {
    this.faults = { ...faults };
  }

  /** Faults back to `faults`, rate-limit buckets emptied. */
  reset(faults: Faults): void {
    this.bucketHits.clear();
    this.set(faults);
  }

  random(): number {
    return this.rng();
  }

  chance(rate: number | undefined): boolean {
    return rate !== undefined && rate > 0 && this.rng() < rate;
  }

  /** A 429 storm (`rateLimitUntilMs`) in force, or counts down `rateLimitNext`: true when this request is to be answered 429. */
  takeRateLimit(isCreate: boolean): boolean {
    if (this.faults.rateLimitRoutes === 'create' && !isCreate) return false;
    if (this.clock() < (this.faults.rateLimitUntilMs ?? 0)) return true;
    if ((this.faults.rateLimitNext ?? 0) <= 0) return false;
    this.faults.rateLimitNext = (this.faults.rateLimitNext ?? 0) - 1;
    return true;
  }

  /** 429 as observed (§5, §6), carrying the delay in the configured place. */
  throttled(): HttpProblem {
    const seconds = this.faults.rateLimitRetryAfterSeconds ?? 1;
    const style = this.faults.rateLimitStyle ?? 'detail';
    const detail = `Request was throttled. Expected available in ${seconds} second${seconds === 1 ? '' : 's'}.`;
    const body: Record<string, unknown> = { detail, status: 429 };
    if (style === 'body') body.retry_after = seconds;
    const headers: Record<string, string> = { 'ratelimit-remaining': '0' };
    if (style === 'header') headers['retry-after'] = String(seconds);
    return new HttpProblem(429, body, headers);
  }

  /** How long this create waits before it is committed: createCommitDelayMs, counting down lateCommitNext when set. */
  takeCommitDelay(): number {
    const delay = this.faults.createCommitDelayMs ?? 0;
    const left = this.faults.lateCommitNext;
    if (delay <= 0 || left === undefined) return Math.max(0, delay);
    if (left <= 0) return 0;
    this.faults.lateCommitNext = left - 1;
    return delay;
  }

  /** Whether a server error is due for this request (the routes it applies to, then the rate). */
  serverErrorDue(route: string, isCreate: boolean): boolean {
    const routes = this.faults.serverErrorRoutes ?? 'all';
    const applies =
      routes === 'all' ||
      (routes === 'create' ? isCreate : route === 'predictions.get' || route === 'trainings.get');
    return applies && this.chance(this.faults.serverErrorRate);
  }

  /** 500 (problem+json), 502 (HTML from the edge proxy) or 503 (plain text from the load balancer). */
  sendServerError(res: ServerResponse): void {
    const pick = Math.floor(this.rng() * 3);
    if (pick === 0)
      return sendProblem(res, problem(500, 'Internal Server Error', 'An unexpected error occurred.'));
    if (pick === 1) {
      const html =
        '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n';
      return sendText(res, 502, html, 'text/html');
    }
    sendText(
      res,
      503,
      'upstream connect error or disconnect/reset before headers. reset reason: overflow',
      'text/plain',
    );
  }

  /** §6: rate-limit headers on every response; creates and polling each have their own bucket. */
  rateLimitHeaders(route: string, isCreate: boolean): Record<string, string> {
    const bucket = isCreate ? 'create' : route === 'predictions.get' ? 'get' : 'other';
    const limit = bucket === 'create' ? 600 : bucket === 'get' ? 60000 : 3000;
    const now = this.clock();
    const hits = (this.bucketHits.get(bucket) ?? []).filter((t) => t > now - 60_000);
    hits.push(now);
    this.bucketHits.set(bucket, hits);
    return { 'ratelimit-remaining': String(Math.max(0, limit - hits.length)), 'ratelimit-reset': '1' };
  }
}
