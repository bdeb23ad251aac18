/**
 * HTTP receiver for Replicate webhooks (docs/replicate-api.md §7), Node built-ins only.
 *
 * Route: `POST /webhooks/replicate?workflow=<workflowId>`; the workflow id travels in the URL (it is NOT covered by
 * the signature, so replay protection keys on `webhook-id` alone: a captured delivery re-posted to another
 * workflow id is still a duplicate).
 * Checks, in order: route (404/405) -> body size (413, unread rest dropped) -> signature headers + HMAC +
 * timestamp (401) -> `workflow` query (400) -> JSON (400) -> replay (200 `{"duplicate":true}`, no deliver) ->
 * `await deliver()` (200; 503 when it rejects, and the id is not remembered so Replicate's retry gets through).
 * The replay window must cover twice the timestamp tolerance (a timestamp up to +tolerance in the future is
 * accepted and stays valid until -tolerance): the defaults are 5 and 10 minutes.
 * Never logs the secret or bodies; one log line per rejection with its reason.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { DEFAULT_WEBHOOK_TOLERANCE_MS, verifyWebhook } from './verify';

export const REPLICATE_WEBHOOK_PATH = '/webhooks/replicate';
export const DEFAULT_WEBHOOK_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_REPLAY_WINDOW_MS = 10 * 60 * 1000;
export const DEFAULT_REPLAY_MAX_ENTRIES = 100_000;

/** The webhook URL to give Replicate for one workflow, under the receiver's public origin. */
export function replicateWebhookUrl(origin: string, workflowId: string): string {
  return `${origin.replace(/\/+$/, '')}${REPLICATE_WEBHOOK_PATH}?workflow=${encodeURIComponent(workflowId)}`;
}

export interface ReceivedWebhook {
  workflowId: string;
  webhookId: string;
  /** parsed JSON: the prediction */
  body: unknown;
}

export interface WebhookReceiverOptions {
  /** 0 = random */
  port: number;
  /** default '127.0.0.1' */
  host?: string;
  /** the signing secret, or a function fetching it once (cached after the first success) */
  secret: string | (() => Promise<string>);
  /**
   * deliver to the owning workflow; reject -> the receiver answers 503 so Replicate retries, and the id is NOT
   * remembered. Resolve 'late' when the run has already closed (or never existed): the receiver answers 200, so
   * Replicate stops retrying, logs it once and remembers the id.
   */
  deliver: (webhook: ReceivedWebhook) => Promise<void | 'late'>;
  /** default 1 MiB; larger -> 413 without reading it all */
  maxBodyBytes?: number;
  /** default 5 min */
  toleranceMs?: number;
  /** how long accepted webhook-ids are remembered (default 10 min) */
  replayWindowMs?: number;
  /** bound of the replay map (default 100k); the oldest ids are evicted first */
  replayMaxEntries?: number;
  now?: () => number;
  /** default: one line on stderr */
  log?: (line: string, fields?: Record<string, unknown>) => void;
}

export interface WebhookReceiverStats {
  accepted: number;
  duplicates: number;
  /** verified deliveries for a run that had already closed (or does not exist): acknowledged, not signaled */
  late: number;
  /** by reason: too-large, missing-headers, bad-timestamp, stale, bad-signature, missing-workflow, bad-json,
   * deliver-failed, secret-unavailable, not-found, method-not-allowed, aborted, internal */
  rejected: Record<string, number>;
}

type Body = { kind: 'ok'; bytes: Buffer } | { kind: 'too-large' } | { kind: 'aborted' };

const defaultLog = (line: string, fields?: Record<string, unknown>): void => {
  console.error(fields === undefined ? line : `${line} ${JSON.stringify(fields)}`);
};

export class WebhookReceiver {
  readonly stats: WebhookReceiverStats = { accepted: 0, duplicates: 0, late: 0, rejected: {} };

  private readonly maxBodyBytes: number;
  private readonly toleranceMs: number;
  private readonly replayWindowMs: number;
  private readonly replayMaxEntries: number;
  private readonly now: () => number;
  private readonly log: (line: string, fields?: Record<string, unknown>) => void;
  /** accepted webhook-id -> accepted at (ms); insertion order = age order */
  private readonly seen = new Map<string, number>();
  /** webhook-id -> deliver in progress (resolves true when it succeeded) */
  private readonly inFlight = new Map<string, Promise<boolean>>();
  private readonly sockets = new Set<Socket>();
  private secretValue: string | undefined;
  private secretFetch: Promise<string> | undefined;
  private server: Server | undefined;

  constructor(private readonly options: WebhookReceiverOptions) {
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_WEBHOOK_MAX_BODY_BYTES;
    this.toleranceMs = options.toleranceMs ?? DEFAULT_WEBHOOK_TOLERANCE_MS;
    this.replayWindowMs = options.replayWindowMs ?? DEFAULT_REPLAY_WINDOW_MS;
    this.replayMaxEntries = options.replayMaxEntries ?? DEFAULT_REPLAY_MAX_ENTRIES;
    this.now = options.now ?? Date.now;
    this.log = options.log ?? defaultLog;
    if (typeof options.secret === 'string') this.secretValue = options.secret;
  }

  /** Starts listening; resolves with the origin, e.g. `http://127.0.0.1:PORT`. */
  async start(): Promise<string> {
    if (this.server) throw new Error('WebhookReceiver already started');
    const server = createServer((req, res) => void this.handle(req, res));
    server.requestTimeout = 30_000; // a slow sender cannot hold a request open for the 5 min default
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    const host = this.options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const { port } = server.address() as AddressInfo;
    const publicHost =
      host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
    return `http://${publicHost}:${port}`;
  }

  /** Closes the server, destroying open sockets at once. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }

  // ---------------------------------------------------------------- request handling

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let workflowId: string | undefined;
    let webhookId: string | undefined;
    try {
      const url = new URL(req.url ?? '/', 'http://receiver.local');
      if (url.pathname !== REPLICATE_WEBHOOK_PATH) return this.reject(req, res, 404, 'not-found');
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        return this.reject(req, res, 405, 'method-not-allowed');
      }
      workflowId = url.searchParams.get('workflow') ?? undefined;
      webhookId = header(req, 'webhook-id');
      const ctx = { workflowId, webhookId };

      const body = await this.readBody(req);
      if (body.kind === 'aborted') return this.count('aborted', ctx);
      if (body.kind === 'too-large') {
        res.setHeader('connection', 'close');
        res.on('finish', () => req.socket.destroy());
        return this.reject(req, res, 413, 'too-large', ctx);
      }

      let secret: string;
      try {
        secret = await this.secret();
      } catch (err) {
        return this.reject(req, res, 503, 'secret-unavailable', { ...ctx, error: errorMessage(err) });
      }
      const verified = verifyWebhook(
        {
          id: webhookId,
          timestamp: header(req, 'webhook-timestamp'),
          signature: header(req, 'webhook-signature'),
        },
        body.bytes,
        secret,
        this.now(),
        this.toleranceMs,
      );
      if (!verified.ok) return this.reject(req, res, 401, verified.reason, ctx);
      const id = webhookId as string; // verified: present

      const target = workflowId;
      if (!target) return this.reject(req, res, 400, 'missing-workflow', ctx);
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.bytes.toString('utf8'));
      } catch {
        return this.reject(req, res, 400, 'bad-json', ctx);
      }

      // Replay: an id accepted within the window is answered 2xx (stops Replicate's retries) without deliver.
      // A concurrent copy waits for the first one's deliver, then re-checks.
      for (;;) {
        if (this.isSeen(id)) {
          this.stats.duplicates++;
          return sendJson(res, 200, { duplicate: true });
        }
        const pending = this.inFlight.get(id);
        if (pending === undefined) break;
        await pending;
      }

      let failure: unknown;
      let late = false;
      const delivering = Promise.resolve()
        .then(() => this.options.deliver({ workflowId: target, webhookId: id, body: parsed }))
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
      if (!delivered) {
        return this.reject(req, res, 503, 'deliver-failed', { ...ctx, error: errorMessage(failure) });
      }
      this.remember(id);
      if (late) {
        // 2xx stops Replicate's retries; remembered, so a retry already on its way is a quiet duplicate.
        this.stats.late++;
        this.log('webhook for a run that has closed or does not exist: acknowledged, not delivered', ctx);
        return sendJson(res, 200, { ok: true, late: true });
      }
      this.stats.accepted++;
      return sendJson(res, 200, { ok: true });
    } catch (err) {
      return this.reject(req, res, 500, 'internal', { workflowId, webhookId, error: errorMessage(err) });
    }
  }

  /** Reads the raw body up to maxBodyBytes; a declared or actual larger body is not read any further. */
  private readBody(req: IncomingMessage): Promise<Body> {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > this.maxBodyBytes)
      return Promise.resolve({ kind: 'too-large' });
    return new Promise<Body>((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = (result: Body): void => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onAbort);
        req.off('aborted', onAbort);
        resolve(result);
      };
      const onData = (chunk: Buffer): void => {
        size += chunk.length;
        if (size > this.maxBodyBytes) {
          req.pause();
          done({ kind: 'too-large' });
          return;
        }
        chunks.push(chunk);
      };
      const onEnd = (): void => done({ kind: 'ok', bytes: Buffer.concat(chunks, size) });
      const onAbort = (): void => done({ kind: 'aborted' });
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onAbort);
      req.on('aborted', onAbort);
    });
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

  private count(reason: string, fields: Record<string, unknown>): void {
    this.stats.rejected[reason] = (this.stats.rejected[reason] ?? 0) + 1;
    this.log('webhook rejected', { reason, ...dropUndefined(fields) });
  }

  private reject(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    reason: string,
    fields: Record<string, unknown> = {},
  ): void {
    this.count(reason, { status, method: req.method, ...fields });
    sendJson(res, status, { error: reason });
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function dropUndefined(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}
