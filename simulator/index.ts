/**
 * A local Replicate API simulator: an HTTP server that behaves like https://api.replicate.com/v1 closely
 * enough that code which works against it works in production (see docs/replicate-api.md, especially
 * §1 routes, §3 sparse shapes, §4 statuses, §5 errors, §6 rate limits, §7 webhooks, §8 retention, §9 lists),
 * plus fault injection (5xx, 429, latency, connection resets before/after a create is stored) and
 * counters/waiters for tests.
 *
 * Trainings (§1) share the prediction machinery: one store, one timeline, one waitFor; a training's record
 * has kind 'training' and its public view carries `destination` (see isTraining()).
 *
 * Layout: models.ts (catalogue + pure timeline), http.ts (problem+json, header parsing),
 * webhooks.ts (signed delivery), png.ts / tar.ts (output files), this file (server, routing, state).
 */
import { EventEmitter } from 'node:events';
import { randomBytes, randomInt } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { URL } from 'node:url';
import {
  DEFAULT_MAX_BODY_BYTES,
  HttpProblem,
  MIN_CANCEL_AFTER_MS,
  inputValidationFailed,
  mulberry32,
  notFound,
  parseCancelAfter,
  parseJsonBody,
  parsePreferWait,
  problem,
  readBody,
  sendJson,
  sendProblem,
  sendText,
  unauthenticated,
} from './http';
import type { InvalidField } from './http';
import {
  BUILTIN_DEPLOYMENTS,
  BUILTIN_MODELS,
  createView,
  createdAtMicros,
  isTerminal,
  materialiseOutput,
  outputFileNames,
  parseIsoMicros,
  predictionView,
  rejectionBody,
  resolveScript,
  timeline,
  trainingOutput,
  transitionTimes,
} from './models';
import type { ModelScript, Prediction, PredictionRecord, RunKind, Training } from './models';
import { makePng } from './png';
import { makeTar } from './tar';
import {
  DEFAULT_WEBHOOK_EVENTS,
  DEFAULT_WEBHOOK_RETRY_DELAYS_MS,
  WEBHOOK_EVENTS,
  WebhookSender,
  newWebhookSecret,
} from './webhooks';
import type { WebhookDelivery, WebhookEvent } from './webhooks';

export type {
  ModelScript,
  Prediction,
  PredictionStatus,
  RunKind,
  ScriptedRejection,
  Training,
  TrainingOutput,
} from './models';
export { BUILTIN_DEPLOYMENTS, BUILTIN_MODELS, defaultVersionFor, isTerminal, isTraining } from './models';
export { parseCancelAfter } from './http';
export { signWebhook } from './webhooks';
export type { WebhookDelivery, WebhookEvent } from './webhooks';

export interface Faults {
  /** probability 0..1 that any /v1 request answers 500/502/503 (problem+json or plain text) */
  serverErrorRate?: number;
  /** which requests serverErrorRate applies to: 'all' (default), 'get' (status reads of predictions and trainings only, e.g. an outage of GETs), 'create' */
  serverErrorRoutes?: 'all' | 'get' | 'create';
  /** a create is received, then committed this many ms later (created_at and the Cancel-After deadline count from the commit), then answered: a slow Replicate whose answer may come after the client gave up. The prediction is stored even when the client has disconnected meanwhile. */
  createCommitDelayMs?: number;
  /** extra latency added to every /v1 response, ms */
  latencyMs?: number;
  /** probability that a create request's connection is destroyed BEFORE the prediction is stored */
  resetBeforeStoreRate?: number;
  /** probability that a create request's connection is destroyed AFTER the prediction is stored (the dangerous case: the prediction exists and runs, the client never learns its id) */
  resetAfterStoreRate?: number;
  /** the next N /v1 requests (any route, or only creates if rateLimitRoutes==='create') answer 429 */
  rateLimitNext?: number;
  rateLimitRoutes?: 'all' | 'create';
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

export interface SimulatorOptions {
  port?: number;
  host?: string;
  token?: string;
  models?: Record<string, ModelScript>;
  deployments?: Record<string, string>;
  outputTtlMs?: number;
  faults?: Faults;
  seed?: number;
  now?: () => number;
  /** page size of GET /v1/predictions (default 100, like the real API) */
  pageSize?: number;
  /** log one line per request to stderr */
  verbose?: boolean;
  /** webhook signing secret (`whsec_<base64>`), served by GET /v1/webhooks/default/secret; default random */
  webhookSecret?: string;
  /** delays between retries of a terminal webhook (default 1, 2, 4, 8, 16, 30 s) */
  webhookRetryDelaysMs?: number[];
  /** create bodies (any create route, trainings too) over this many bytes get 413 unparsed (default 10 MB) */
  maxBodyBytes?: number;
}

export interface RecordedRequest {
  at: number;
  method: string;
  path: string;
  route: string;
  /** HTTP status answered; 0 when the connection was destroyed without an answer */
  status: number;
  /** id of the prediction or training the request created or addressed */
  predictionId?: string;
  headers: Record<string, string>;
  body?: unknown;
}

export interface PredictionCounters {
  gets: number;
  cancels: number;
}

export interface WaitForOptions {
  /** only this prediction */
  id?: string;
  /** default 30 s */
  timeoutMs?: number;
}

interface Entry {
  rec: PredictionRecord;
  counters: PredictionCounters;
  /** fingerprint of the last emitted view */
  lastKey: string;
  lastStatus: Prediction['status'];
  lastLogsWebhookAt: number;
  timer?: NodeJS.Timeout;
}

const CREATE_ROUTES = new Set([
  'predictions.create',
  'models.predictions.create',
  'deployments.predictions.create',
  'trainings.create',
]);
const NAME = '[A-Za-z0-9][A-Za-z0-9._-]*';
const HEX64 = '[0-9a-f]{64}';

export class ReplicateSimulator {
  readonly requests: RecordedRequest[] = [];
  /** every webhook delivery attempt, in order */
  readonly webhookDeliveries: WebhookDelivery[] = [];

  private readonly options: SimulatorOptions;
  private readonly token: string;
  private readonly clock: () => number;
  private readonly outputTtlMs: number;
  private readonly pageSize: number;
  private readonly maxBodyBytes: number;
  private readonly webhookSecret: string;
  private readonly models = new Map<string, ModelScript>();
  private readonly deployments = new Map<string, string>();
  private readonly entries = new Map<string, Entry>();
  /** ids of predictions and trainings, in creation order */
  private readonly order: string[] = [];
  private readonly events = new EventEmitter();
  private readonly sockets = new Set<Socket>();
  private readonly bucketHits = new Map<string, number[]>();
  private readonly webhooks: WebhookSender;
  private faults: Faults = {};
  private random: () => number;
  private seq = 0;
  /** created_at (epoch µs) of the last run, so created_at strictly increases with creation order */
  private lastCreatedUs = -Infinity;
  private server: Server | undefined;
  private originUrl: string | undefined;

  constructor(options: SimulatorOptions = {}) {
    this.options = options;
    this.token = options.token ?? 'sim-token';
    this.clock = options.now ?? Date.now;
    this.outputTtlMs = options.outputTtlMs ?? 60 * 60 * 1000;
    this.pageSize = options.pageSize ?? 100;
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.webhookSecret = options.webhookSecret ?? newWebhookSecret();
    this.random = mulberry32(options.seed ?? randomInt(2 ** 31));
    for (const [ref, script] of Object.entries({ ...BUILTIN_MODELS, ...options.models }))
      this.models.set(ref, script);
    for (const [name, model] of Object.entries({ ...BUILTIN_DEPLOYMENTS, ...options.deployments })) {
      this.deployments.set(name, model);
    }
    this.setFaults(options.faults ?? {});
    this.events.setMaxListeners(0);
    this.webhooks = new WebhookSender({
      secret: () => this.webhookSecret,
      now: this.clock,
      retryDelaysMs: () => options.webhookRetryDelaysMs ?? DEFAULT_WEBHOOK_RETRY_DELAYS_MS,
      dropRate: () => this.faults.webhookDropRate ?? 0,
      duplicateRate: () => this.faults.webhookDuplicateRate ?? 0,
      delayMs: () => this.faults.webhookDelayMs ?? 0,
      reorder: () => this.faults.webhookReorder ?? false,
      random: () => this.random(),
      record: (d) => {
        this.webhookDeliveries.push(d);
        this.events.emit('webhook', d);
      },
    });
  }

  // ---------------------------------------------------------------- lifecycle

  /** Starts listening; resolves with the base URL, e.g. 'http://127.0.0.1:PORT/v1'. */
  async start(): Promise<string> {
    if (this.server) throw new Error('ReplicateSimulator already started');
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    const host = this.options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const { port } = server.address() as AddressInfo;
    const publicHost =
      host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
    this.originUrl = `http://${publicHost}:${port}`;
    return this.baseUrl;
  }

  /** Closes the server, destroying open sockets (keep-alive, held `Prefer: wait`) at once. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.clearTimers();
    this.webhooks.cancelAll();
    this.events.emit('stopped');
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }

  /** `http://127.0.0.1:PORT` (throws before start()) */
  get origin(): string {
    if (this.originUrl === undefined) throw new Error('ReplicateSimulator not started: call start() first');
    return this.originUrl;
  }

  /** `${origin}/v1` */
  get baseUrl(): string {
    return `${this.origin}/v1`;
  }

  // ---------------------------------------------------------------- configuration

  setFaults(faults: Faults): void {
    this.faults = { ...faults };
  }

  setModel(ref: string, script: ModelScript): void {
    this.models.set(ref, script);
  }

  setDeployment(name: string, model: string): void {
    this.deployments.set(name, model);
  }

  /** Forgets predictions, trainings, recorded requests and webhook deliveries; faults go back to the options. */
  reset(): void {
    this.clearTimers();
    this.webhooks.cancelAll();
    this.entries.clear();
    this.order.length = 0;
    this.lastCreatedUs = -Infinity;
    this.requests.length = 0;
    this.webhookDeliveries.length = 0;
    this.bucketHits.clear();
    this.setFaults(this.options.faults ?? {});
  }

  /** Signing secret of the webhooks this simulator sends. */
  get webhookSigningSecret(): string {
    return this.webhookSecret;
  }

  // ---------------------------------------------------------------- inspection

  /** Number of predictions actually stored (trainings not included: see trainingCreates()). */
  creates(): number {
    return this.idsOf('prediction').length;
  }

  /** Number of trainings actually stored. */
  trainingCreates(): number {
    return this.idsOf('training').length;
  }

  /** Prediction ids in creation order (no trainings). */
  predictionIds(): string[] {
    return this.idsOf('prediction');
  }

  /** Training ids in creation order. */
  trainingIds(): string[] {
    return this.idsOf('training');
  }

  /** GET/cancel calls for a prediction or a training id. */
  counters(id: string): PredictionCounters {
    const c = this.entries.get(id)?.counters;
    return { gets: c?.gets ?? 0, cancels: c?.cancels ?? 0 };
  }

  /**
   * Current public view, as GET /v1/predictions/{id} (or GET /v1/trainings/{id} for a training id) would
   * return it. Works for both kinds; isTraining(view) tells them apart.
   */
  prediction(id: string): Prediction | undefined {
    const entry = this.entries.get(id);
    return entry ? this.refresh(entry) : undefined;
  }

  /** Current view of a training; undefined for unknown ids and for predictions. */
  training(id: string): Training | undefined {
    const entry = this.entries.get(id);
    return entry && kindOf(entry.rec) === 'training' ? (this.refresh(entry) as Training) : undefined;
  }

  private idsOf(kind: RunKind): string[] {
    return this.order.filter((id) => kindOf(this.entries.get(id)!.rec) === kind);
  }

  /**
   * Re-evaluates every prediction against the clock and emits changes. Timers do this on their own with a
   * real clock; call it after advancing an injected clock.
   */
  tick(): void {
    for (const id of this.order) {
      const entry = this.entries.get(id);
      if (entry) this.refresh(entry);
    }
  }

  /**
   * Resolves with the first view for which predicate is true: for the prediction `opts.id`, or any
   * prediction when no id is given. Checks current views first, then listens to change events.
   * Also callable as waitFor(id, predicate, opts).
   * Trainings are seen too: a predicate that must only match one kind checks isTraining(p) (trainings carry
   * `destination`), e.g. `sim.waitFor((p) => isTraining(p) && p.status === 'succeeded')`.
   */
  waitFor(predicate: (p: Prediction) => boolean, opts?: WaitForOptions): Promise<Prediction>;
  waitFor(
    id: string,
    predicate: (p: Prediction) => boolean,
    opts?: Omit<WaitForOptions, 'id'>,
  ): Promise<Prediction>;
  waitFor(
    a: string | ((p: Prediction) => boolean),
    b?: ((p: Prediction) => boolean) | WaitForOptions,
    c?: Omit<WaitForOptions, 'id'>,
  ): Promise<Prediction> {
    const [id, predicate, opts] =
      typeof a === 'string'
        ? [a, b as (p: Prediction) => boolean, c ?? {}]
        : [(b as WaitForOptions | undefined)?.id, a, (b as WaitForOptions | undefined) ?? {}];
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const matches = (p: Prediction): boolean => (id === undefined || p.id === id) && predicate(p);
    return new Promise<Prediction>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        this.events.off('update', onUpdate);
        this.events.off('stopped', onStopped);
      };
      const onUpdate = (p: Prediction): void => {
        if (!matches(p)) return;
        cleanup();
        resolve(p);
      };
      const onStopped = (): void => {
        cleanup();
        reject(new Error('ReplicateSimulator stopped while waiting'));
      };
      const timer = setTimeout(() => {
        cleanup();
        const what = id === undefined ? 'any prediction' : `prediction ${id}`;
        reject(new Error(`waitFor timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.events.on('update', onUpdate);
      this.events.on('stopped', onStopped);
      const candidates = id === undefined ? this.order : [id];
      for (const cid of candidates) {
        const entry = this.entries.get(cid);
        if (!entry) continue;
        const view = this.refresh(entry); // emits 'update' if it changed, which may already resolve us
        if (matches(view)) {
          cleanup();
          resolve(view);
          return;
        }
      }
    });
  }

  /**
   * Resolves with the first recorded webhook delivery attempt (see webhookDeliveries) for which predicate is
   * true: already recorded ones first, then new ones as they are recorded (after the receiver answered).
   */
  waitForWebhook(
    predicate: (d: WebhookDelivery) => boolean,
    opts: { timeoutMs?: number } = {},
  ): Promise<WebhookDelivery> {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    return new Promise<WebhookDelivery>((resolve, reject) => {
      const found = this.webhookDeliveries.find(predicate);
      if (found) {
        resolve(found);
        return;
      }
      const cleanup = (): void => {
        clearTimeout(timer);
        this.events.off('webhook', onWebhook);
        this.events.off('stopped', onStopped);
      };
      const onWebhook = (d: WebhookDelivery): void => {
        if (!predicate(d)) return;
        cleanup();
        resolve(d);
      };
      const onStopped = (): void => {
        cleanup();
        reject(new Error('ReplicateSimulator stopped while waiting for a webhook'));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`waitForWebhook timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.events.on('webhook', onWebhook);
      this.events.on('stopped', onStopped);
    });
  }

  // ---------------------------------------------------------------- state changes

  /** Computes the current view; emits 'update' (and webhooks) when it changed; schedules the next change. */
  private refresh(entry: Entry): Prediction {
    const now = this.clock();
    const view = predictionView(entry.rec, { origin: this.origin, now, outputTtlMs: this.outputTtlMs });
    const key = `${view.status}|${view.logs?.length ?? 0}|${String(view.data_removed)}`;
    if (key !== entry.lastKey) {
      const previous = entry.lastStatus;
      entry.lastKey = key;
      entry.lastStatus = view.status;
      this.sendWebhooks(entry, previous, view, now);
      this.events.emit('update', view);
    }
    this.schedule(entry, now);
    return view;
  }

  /** One timer per prediction, at its next transition (status, log line, deadline, data removal). */
  private schedule(entry: Entry, now: number): void {
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = undefined;
    if (!this.server) return;
    const times = transitionTimes(entry.rec);
    const completedAt = timeline(entry.rec, now).completedAt;
    if (completedAt !== undefined) times.push(completedAt + this.outputTtlMs);
    const next = Math.min(...times.filter((t) => t > now));
    if (!Number.isFinite(next)) return;
    // +1 ms so a real clock has passed the transition; with a frozen injected clock this re-checks at most
    // every (next - now) ms, and tick() applies clock advances at once.
    const delay = Math.min(Math.max(next - now + 1, 5), 2 ** 31 - 1);
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      if (this.entries.get(entry.rec.id) === entry) this.refresh(entry);
    }, delay);
    entry.timer.unref();
  }

  private clearTimers(): void {
    for (const entry of this.entries.values()) {
      if (entry.timer) clearTimeout(entry.timer);
      entry.timer = undefined;
    }
  }

  /** Webhook events (§7): start, logs (at most one per 500 ms), output, completed (the only one retried). */
  private sendWebhooks(entry: Entry, previous: Prediction['status'], view: Prediction, now: number): void {
    const url = entry.rec.webhook;
    if (url === undefined) return;
    const filter = (entry.rec.webhookEventsFilter ?? DEFAULT_WEBHOOK_EVENTS) as readonly string[];
    const body = JSON.stringify(view);
    const send = (event: WebhookEvent, retry = false): void => {
      if (filter.includes(event)) {
        this.webhooks.send({ url, predictionId: entry.rec.id, event, status: view.status, body, retry });
      }
    };
    const terminalNow = isTerminal(view.status);
    if (previous === 'starting' && view.started_at !== undefined && !isTerminal(previous)) send('start');
    if (terminalNow && !isTerminal(previous)) {
      if (view.status === 'succeeded') send('output');
      send('completed', true);
      this.webhooks.settle(entry.rec.id);
      return;
    }
    if (!terminalNow && view.status === 'processing' && now - entry.lastLogsWebhookAt >= 500) {
      if (filter.includes('logs')) entry.lastLogsWebhookAt = now;
      send('logs');
    }
  }

  // ---------------------------------------------------------------- HTTP

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim.local');
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    const recorded: RecordedRequest = {
      at: this.clock(),
      method: req.method ?? 'GET',
      path: url.pathname + url.search,
      route: 'unknown',
      status: 0,
      headers: redactHeaders(req.headers),
    };
    this.requests.push(recorded);
    res.on('finish', () => {
      recorded.status = res.statusCode;
      if (this.options.verbose) {
        process.stderr.write(`[sim] ${recorded.method} ${recorded.path} -> ${recorded.status}\n`);
      }
    });
    try {
      if (path.startsWith('/files/')) {
        recorded.route = 'files.get';
        this.serveFile(req, res, path);
      } else if (path.startsWith('/stream/')) {
        recorded.route = 'predictions.stream';
        this.serveStream(req, res, path.slice('/stream/'.length));
      } else if (path.startsWith('/_sim/') || path === '/_sim') {
        recorded.route = 'admin';
        await this.handleAdmin(req, res, path, recorded);
      } else if (path === '/v1' || path.startsWith('/v1/')) {
        await this.handleApi(req, res, path.slice(3), url.searchParams, recorded);
      } else {
        sendProblem(res, notFound());
      }
    } catch (err) {
      if (res.headersSent || res.destroyed) return;
      if (err instanceof HttpProblem) sendProblem(res, err);
      else sendProblem(res, problem(500, 'Internal Server Error', (err as Error).message));
    }
  }

  private async handleApi(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    params: URLSearchParams,
    recorded: RecordedRequest,
  ): Promise<void> {
    const route = matchRoute(req.method ?? 'GET', path);
    recorded.route = route.name;
    const isCreate = CREATE_ROUTES.has(route.name);
    // get/cancel name their prediction in the path: record it even when a fault answers before the lookup.
    if (/^(predictions|trainings)\.(get|cancel)$/.test(route.name)) recorded.predictionId = route.params[0];

    // §6: rate-limit headers on every response; polling has its own, larger bucket.
    const headers = this.rateLimitHeaders(route.name);
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);

    // Oversized create bodies: 413 without parsing (like the API gateway), before auth.
    const limit = isCreate ? this.maxBodyBytes : DEFAULT_MAX_BODY_BYTES;
    const body = req.method === 'POST' ? parseRecordedBody(await readBody(req, limit), recorded) : undefined;

    const latency = this.faults.latencyMs ?? 0;
    if (latency > 0) await new Promise((resolve) => setTimeout(resolve, latency));
    if (res.destroyed) return;

    if (req.headers.authorization !== `Bearer ${this.token}`) throw unauthenticated();

    if ((this.faults.rateLimitNext ?? 0) > 0 && (this.faults.rateLimitRoutes !== 'create' || isCreate)) {
      this.faults.rateLimitNext = (this.faults.rateLimitNext ?? 0) - 1;
      throw this.throttled();
    }
    if (this.serverErrorApplies(route.name) && this.chance(this.faults.serverErrorRate))
      return this.sendServerError(res);

    switch (route.name) {
      case 'predictions.create':
      case 'models.predictions.create':
      case 'deployments.predictions.create':
      case 'trainings.create':
        return this.createPrediction(req, res, route.name, route.params, body, recorded);
      case 'predictions.get':
      case 'trainings.get': {
        const entry = this.entry(route.params[0]!, route.name === 'trainings.get');
        entry.counters.gets++;
        this.rejectIfScripted(entry.rec.model, 'get');
        return sendJson(res, 200, this.refresh(entry));
      }
      case 'predictions.cancel':
      case 'trainings.cancel': {
        const entry = this.entry(route.params[0]!, route.name === 'trainings.cancel');
        entry.counters.cancels++;
        this.rejectIfScripted(entry.rec.model, 'get');
        return sendJson(res, 200, this.cancel(entry));
      }
      case 'predictions.list':
        return sendJson(res, 200, this.list(params, 'prediction'));
      case 'trainings.list':
        return sendJson(res, 200, this.list(params, 'training'));
      case 'webhooks.default.secret.get':
        return sendJson(res, 200, { key: this.webhookSecret });
      case 'method_not_allowed':
        throw problem(405, 'Method Not Allowed', `Method "${req.method ?? ''}" not allowed.`);
      default:
        throw notFound();
    }
  }

  /** The stored run behind /predictions/{id} or /trainings/{id}; the other kind's ids are 404 on each route. */
  private entry(id: string, training: boolean): Entry {
    const entry = this.entries.get(id);
    if (!entry || (kindOf(entry.rec) === 'training') !== training) throw notFound();
    return entry;
  }

  /** ModelScript.reject: the scripted problem+json answer, when it applies to this phase (looked up live). */
  private rejectIfScripted(modelRef: string, phase: 'create' | 'get'): void {
    const reject = this.models.get(modelRef)?.reject;
    if (!reject) return;
    const on = reject.on ?? 'create';
    if (on === 'all' || on === phase) throw new HttpProblem(reject.status, rejectionBody(reject));
  }

  /** POST /predictions/{id}/cancel (and /trainings/{id}/cancel): a running or queued prediction becomes `canceled`; terminal ones are unchanged. */
  private cancel(entry: Entry): Prediction {
    const now = this.clock();
    if (!isTerminal(timeline(entry.rec, now).status)) entry.rec.canceledAt = now;
    return this.refresh(entry);
  }

  // ---------------------------------------------------------------- create

  private async createPrediction(
    req: IncomingMessage,
    res: ServerResponse,
    route: string,
    params: string[],
    body: unknown,
    recorded: RecordedRequest,
  ): Promise<void> {
    const viaVersion = route === 'predictions.create';
    const kind: RunKind = route === 'trainings.create' ? 'training' : 'prediction';
    const parsed = validateCreateBody(
      body,
      viaVersion ? 'version' : kind === 'training' ? 'training' : 'model',
    );

    // Which model runs, and what the prediction's `model`/`version`/`deployment` fields say.
    let modelRef: string;
    let deployment: string | undefined;
    let hiddenAllowed = !viaVersion;
    if (viaVersion) {
      const found = this.resolveVersion(parsed.version ?? '');
      modelRef = found.ref;
      hiddenAllowed = found.bareName;
    } else if (kind === 'training') {
      // POST /models/{owner}/{name}/versions/{version_id}/trainings: unknown model 404, unknown version 422.
      modelRef = `${params[0]!}/${params[1]!}`;
      const model = this.models.get(modelRef);
      if (!model) throw notFound();
      if (resolveScript(modelRef, model).version !== params[2]) throw invalidVersion();
      hiddenAllowed = false;
    } else if (route === 'models.predictions.create') {
      modelRef = `${params[0]!}/${params[1]!}`;
      if (!this.models.has(modelRef)) throw notFound();
    } else {
      deployment = `${params[0]!}/${params[1]!}`;
      const target = this.deployments.get(deployment);
      if (target === undefined || !this.models.has(target)) throw notFound();
      modelRef = target;
    }
    this.rejectIfScripted(modelRef, 'create');
    const script = resolveScript(modelRef, this.models.get(modelRef)!, kind);

    // requiredInputs describe predict(); a training's input goes to train(), which the script does not model.
    const required = kind === 'training' ? [] : script.requiredInputs;
    const missing = required.filter((k) => parsed.input[k] === undefined || parsed.input[k] === null);
    if (missing.length > 0) {
      throw inputValidationFailed(
        missing.map((k) => ({ type: 'required', field: 'input', description: `${k} is required` })),
      );
    }

    let cancelAfterMs: number | undefined;
    const cancelAfter = headerValue(req.headers['cancel-after']);
    if (cancelAfter !== undefined) {
      cancelAfterMs = parseCancelAfter(cancelAfter);
      if (cancelAfterMs === undefined || cancelAfterMs < MIN_CANCEL_AFTER_MS) {
        throw problem(
          422,
          'Invalid Cancel-After header',
          `Cancel-After must be a duration of at least 5s (e.g. "30", "30s", "5m", "1h30m45s"); got "${cancelAfter}"`,
        );
      }
    }

    // Fault: the connection drops before anything is stored (a safe-to-retry failure).
    if (this.chance(this.faults.resetBeforeStoreRate)) {
      req.socket.destroy();
      return;
    }
    // Fault: a slow commit. The prediction is stored after the delay even if the client gave up meanwhile.
    const commitDelay = this.faults.createCommitDelayMs ?? 0;
    if (commitDelay > 0) await new Promise((resolve) => setTimeout(resolve, commitDelay));

    const now = this.clock();
    const id = newPredictionId();
    // Sub-ms digits: random, but created_at strictly increases in creation order (list order = created_at order).
    const baseUs = Math.floor(now) * 1000 + Math.floor((now % 1) * 1000);
    const micros = Math.max(randomInt(1000), this.lastCreatedUs + 1 - baseUs);
    this.lastCreatedUs = baseUs + micros;
    const rec: PredictionRecord = {
      id,
      ...(kind === 'training' ? { kind } : {}),
      seq: ++this.seq,
      model: modelRef,
      version: hiddenAllowed && script.hiddenVersion ? 'hidden' : script.version,
      ...(deployment === undefined ? {} : { deployment }),
      input: parsed.input,
      ...(parsed.webhook === undefined ? {} : { webhook: parsed.webhook }),
      ...(parsed.webhookEventsFilter === undefined
        ? {}
        : { webhookEventsFilter: parsed.webhookEventsFilter }),
      ...(parsed.destination === undefined ? {} : { destination: parsed.destination }),
      stream: parsed.stream === true,
      script,
      output:
        parsed.destination === undefined
          ? materialiseOutput(script, this.origin, id, parsed.input)
          : trainingOutput(this.origin, id, parsed.destination),
      createdAt: now,
      micros,
      ...(cancelAfterMs === undefined ? {} : { deadlineAt: now + cancelAfterMs }),
    };
    const entry: Entry = {
      rec,
      counters: { gets: 0, cancels: 0 },
      lastKey: '',
      lastStatus: 'starting',
      lastLogsWebhookAt: -Infinity,
    };
    this.entries.set(id, entry);
    this.order.push(id);
    recorded.predictionId = id;
    this.refresh(entry);

    // Fault: stored and running, but the client never hears back (§10: the create is ambiguous).
    if (this.chance(this.faults.resetAfterStoreRate)) {
      req.socket.destroy();
      return;
    }

    // §2 sync mode: hold the response until terminal or the window ends; always 201 in recorded traffic.
    // Documented for predictions only: trainings ignore the preference (RFC 7240) and answer at once.
    const preferHeader = headerValue(req.headers.prefer);
    const waitSeconds = kind === 'training' ? undefined : parsePreferWait(preferHeader);
    if (waitSeconds !== undefined) {
      const view = await this.waitFor(id, (p) => isTerminal(p.status), {
        timeoutMs: waitSeconds * 1000,
      }).catch(() => this.prediction(id)!);
      if (res.destroyed) return;
      const applied = /=/.test(preferHeader ?? '') ? `wait=${waitSeconds}` : 'wait';
      return sendJson(res, 201, view, { 'preference-applied': applied });
    }
    if (res.destroyed) return; // the client gave up during a slow commit: the prediction runs all the same
    sendJson(res, 201, createView(rec, this.origin));
  }

  /** `version` on POST /predictions: 64-hex id, `owner/name:id`, or `owner/name` (§1). */
  private resolveVersion(version: string): { ref: string; bareName: boolean } {
    const invalid = invalidVersion;
    if (new RegExp(`^${HEX64}$`).test(version)) {
      for (const [ref, script] of this.models) {
        if (resolveScript(ref, script).version === version) return { ref, bareName: false };
      }
      throw invalid();
    }
    const m = new RegExp(`^(${NAME}/${NAME})(?::(${HEX64}))?$`).exec(version);
    if (!m) throw invalid();
    const ref = m[1]!;
    const script = this.models.get(ref);
    if (!script) throw invalid();
    if (m[2] !== undefined && resolveScript(ref, script).version !== m[2]) throw invalid();
    return { ref, bareName: m[2] === undefined };
  }

  // ---------------------------------------------------------------- list (§9)

  /**
   * GET /predictions (GET /trainings for kind 'training'): newest first, `created_after` (inclusive) / `created_before` (exclusive) filters,
   * cursor pagination with ABSOLUTE `next`/`previous` URLs that keep the filters; null at the ends.
   * The cursor is opaque base64 like DRF's CursorPagination (`p=<position>`, `r=1` for reverse).
   */
  private list(
    params: URLSearchParams,
    kind: RunKind,
  ): {
    next: string | null;
    previous: string | null;
    results: Prediction[];
  } {
    const filters = new URLSearchParams();
    const bound = (name: string): number | undefined => {
      const v = params.get(name);
      if (v === null) return undefined;
      filters.set(name, v);
      const us = parseIsoMicros(v);
      if (Number.isNaN(us)) throw problem(400, 'Bad Request', `${name}: Enter a valid date/time.`);
      return us;
    };
    const after = bound('created_after');
    const before = bound('created_before');
    const source = params.get('source');
    if (source !== null) filters.set('source', source);

    // Newest first.
    let all = this.order
      .map((id) => this.entries.get(id)!)
      .filter((e) => {
        if (kindOf(e.rec) !== kind) return false;
        const us = createdAtMicros(e.rec);
        return (after === undefined || us >= after) && (before === undefined || us < before);
      })
      .reverse();
    if (source === 'web') all = []; // every simulated prediction comes from the API

    const cursor = params.get('cursor');
    let start = 0;
    let end = Math.min(this.pageSize, all.length);
    if (cursor !== null) {
      const decoded = decodeCursor(cursor);
      if (!decoded) throw problem(404, undefined, 'Invalid cursor');
      if (decoded.reverse) {
        // The page of items just newer than position p.
        const firstOlder = all.findIndex((e) => e.rec.seq <= decoded.position);
        end = firstOlder === -1 ? all.length : firstOlder;
        start = Math.max(0, end - this.pageSize);
      } else {
        // The page of items just older than position p.
        start = all.findIndex((e) => e.rec.seq < decoded.position);
        if (start === -1) start = all.length;
        end = Math.min(start + this.pageSize, all.length);
      }
    }
    const page = all.slice(start, end);
    const link = (c: string): string => {
      const q = new URLSearchParams(filters);
      q.set('cursor', c);
      return `${this.baseUrl}/${kind === 'training' ? 'trainings' : 'predictions'}?${q.toString()}`;
    };
    const last = page[page.length - 1];
    const first = page[0];
    return {
      next: end < all.length && last ? link(encodeCursor(last.rec.seq, false)) : null,
      previous: start > 0 && first ? link(encodeCursor(first.rec.seq, true)) : null,
      results: page.map((e) => this.refresh(e)),
    };
  }

  // ---------------------------------------------------------------- faults

  private chance(rate: number | undefined): boolean {
    return rate !== undefined && rate > 0 && this.random() < rate;
  }

  /** 429 as observed (§5, §6), carrying the delay in the configured place. */
  private throttled(): HttpProblem {
    const seconds = this.faults.rateLimitRetryAfterSeconds ?? 1;
    const style = this.faults.rateLimitStyle ?? 'detail';
    const detail = `Request was throttled. Expected available in ${seconds} second${seconds === 1 ? '' : 's'}.`;
    const body: Record<string, unknown> = { detail, status: 429 };
    if (style === 'body') body.retry_after = seconds;
    const headers: Record<string, string> = { 'ratelimit-remaining': '0' };
    if (style === 'header') headers['retry-after'] = String(seconds);
    return new HttpProblem(429, body, headers);
  }

  /** 500 (problem+json), 502 (HTML from the edge proxy) or 503 (plain text from the load balancer). */
  private serverErrorApplies(route: string): boolean {
    const routes = this.faults.serverErrorRoutes ?? 'all';
    if (routes === 'all') return true;
    if (routes === 'create') return CREATE_ROUTES.has(route);
    return route === 'predictions.get' || route === 'trainings.get';
  }

  private sendServerError(res: ServerResponse): void {
    const pick = Math.floor(this.random() * 3);
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

  private rateLimitHeaders(route: string): Record<string, string> {
    const bucket = CREATE_ROUTES.has(route) ? 'create' : route === 'predictions.get' ? 'get' : 'other';
    const limit = bucket === 'create' ? 600 : bucket === 'get' ? 60000 : 3000;
    const now = this.clock();
    const hits = (this.bucketHits.get(bucket) ?? []).filter((t) => t > now - 60_000);
    hits.push(now);
    this.bucketHits.set(bucket, hits);
    return { 'ratelimit-remaining': String(Math.max(0, limit - hits.length)), 'ratelimit-reset': '1' };
  }

  // ---------------------------------------------------------------- files and stream

  /**
   * GET /files/{id}/{name}: like replicate.delivery, no auth; 404 once data is removed (§8). Prediction
   * outputs are PNGs; a training's `weights.tar` is a small tar archive.
   */
  private serveFile(req: IncomingMessage, res: ServerResponse, path: string): void {
    const parts = path.split('/'); // ['', 'files', id, name]
    const [, , id, name] = parts.length === 4 ? parts : [];
    const entry = id === undefined ? undefined : this.entries.get(id);
    if (!entry || name === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) throw notFound();
    const view = this.refresh(entry);
    if (
      view.status !== 'succeeded' ||
      view.data_removed ||
      !outputFileNames(entry.rec, this.origin).has(name)
    ) {
      throw notFound();
    }
    const tar = name.endsWith('.tar');
    const bytes = tar ? makeTar(`${id}/${name}`) : makePng(`${id}/${name}`);
    res.writeHead(200, {
      'content-type': tar ? 'application/x-tar' : 'image/png',
      'content-length': String(bytes.length),
      'cache-control': 'public, max-age=3600',
    });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  }

  /** urls.stream: server-sent events `output` / `error` then `done` when the prediction ends. */
  private serveStream(req: IncomingMessage, res: ServerResponse, id: string): void {
    const entry = this.entries.get(id);
    if (!entry || kindOf(entry.rec) === 'training') throw notFound();
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    const finish = (p: Prediction): void => {
      if (p.status === 'succeeded') {
        const data = typeof p.output === 'string' ? p.output : JSON.stringify(p.output);
        res.write(`event: output\nid: ${Date.now()}:0\ndata: ${data}\n\n`);
      } else if (p.status === 'failed') {
        res.write(`event: error\ndata: ${JSON.stringify({ detail: p.error })}\n\n`);
      }
      const reason = p.status === 'succeeded' ? {} : { reason: p.status };
      res.end(`event: done\ndata: ${JSON.stringify(reason)}\n\n`);
    };
    this.waitFor(id, (p) => isTerminal(p.status), { timeoutMs: 2 ** 31 - 1 }).then(finish, () =>
      res.destroy(),
    );
    req.on('close', () => res.end());
  }

  // ---------------------------------------------------------------- admin (/_sim, no auth)

  private async handleAdmin(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    recorded: RecordedRequest,
  ): Promise<void> {
    const body = req.method === 'POST' ? parseRecordedBody(await readBody(req), recorded) : undefined;
    const route = `${req.method ?? 'GET'} ${path}`;
    switch (route) {
      case 'GET /_sim/state': {
        this.tick();
        const runs = (ids: string[]) =>
          ids.map((id) => {
            const entry = this.entries.get(id)!;
            const view = predictionView(entry.rec, {
              origin: this.origin,
              now: this.clock(),
              outputTtlMs: this.outputTtlMs,
            });
            return { id, status: view.status, model: view.model, ...entry.counters };
          });
        return sendJson(res, 200, {
          creates: this.creates(),
          trainingCreates: this.trainingCreates(),
          predictions: runs(this.predictionIds()),
          trainings: runs(this.trainingIds()),
          requests: this.requests.length,
          webhooks: this.webhookDeliveries.length,
        });
      }
      case 'POST /_sim/faults':
        if (!isObject(body)) throw problem(400, 'Bad Request', 'body must be a Faults object');
        this.setFaults(body as Faults);
        return sendJson(res, 200, { faults: this.faults });
      case 'POST /_sim/models': {
        if (!isObject(body) || typeof body.ref !== 'string' || !isObject(body.script)) {
          throw problem(400, 'Bad Request', 'body must be {ref: "owner/name", script: {...}}');
        }
        this.setModel(body.ref, body.script as ModelScript);
        return sendJson(res, 200, { ref: body.ref, version: resolveScript(body.ref, body.script).version });
      }
      case 'POST /_sim/deployments':
        if (!isObject(body) || typeof body.name !== 'string' || typeof body.model !== 'string') {
          throw problem(400, 'Bad Request', 'body must be {name: "owner/name", model: "owner/name"}');
        }
        this.setDeployment(body.name, body.model);
        return sendJson(res, 200, { name: body.name, model: body.model });
      case 'POST /_sim/reset':
        this.reset();
        return sendJson(res, 200, { ok: true });
      default:
        throw notFound();
    }
  }
}

// ------------------------------------------------------------------ helpers

interface CreateRequest {
  version?: string;
  input: Record<string, unknown>;
  webhook?: string;
  webhookEventsFilter?: string[];
  stream?: boolean;
  /** trainings only */
  destination?: string;
}

/**
 * Schema check of a create body: 'version' = POST /predictions (schemas_version_prediction_request),
 * 'model' = model/deployment routes (schemas_prediction_request), 'training' = POST .../trainings
 * (schemas_training_request: `destination` and `input` required, no `stream`). All `additionalProperties:
 * false`; all problems are reported together, like Replicate's validator.
 */
function validateCreateBody(body: unknown, shape: 'version' | 'model' | 'training'): CreateRequest {
  const viaVersion = shape === 'version';
  const fields: InvalidField[] = [];
  if (!isObject(body)) {
    const given = body === undefined ? 'null' : Array.isArray(body) ? 'array' : typeof body;
    throw inputValidationFailed([
      {
        type: 'invalid_type',
        field: '(root)',
        description: `Invalid type. Expected: object, given: ${given}`,
      },
    ]);
  }
  const allowed = {
    version: ['version', 'input', 'webhook', 'webhook_events_filter', 'stream'],
    model: ['input', 'webhook', 'webhook_events_filter', 'stream'],
    training: ['destination', 'input', 'webhook', 'webhook_events_filter'],
  }[shape];
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) {
      fields.push({
        type: 'additional_property_not_allowed',
        field: '(root)',
        description: `Additional property ${key} is not allowed`,
      });
    }
  }
  if (viaVersion && body.version === undefined) {
    fields.push({ type: 'required', field: '(root)', description: 'version is required' });
  } else if (viaVersion && typeof body.version !== 'string') {
    fields.push(typeError('version', 'string', body.version));
  }
  if (shape === 'training') {
    if (body.destination === undefined) {
      fields.push({ type: 'required', field: '(root)', description: 'destination is required' });
    } else if (typeof body.destination !== 'string') {
      fields.push(typeError('destination', 'string', body.destination));
    } else if (!new RegExp(`^${NAME}/${NAME}$`).test(body.destination)) {
      fields.push({
        type: 'format',
        field: 'destination',
        description: 'destination must be a model name in the format owner/name',
      });
    }
  }
  if (body.input === undefined)
    fields.push({ type: 'required', field: '(root)', description: 'input is required' });
  else if (!isObject(body.input)) fields.push(typeError('input', 'object', body.input));
  if (body.webhook !== undefined) {
    if (typeof body.webhook !== 'string') fields.push(typeError('webhook', 'string', body.webhook));
    else if (!/^https?:\/\/[^\s/]+/i.test(body.webhook)) {
      fields.push({ type: 'format', field: 'webhook', description: "Does not match format 'uri'" });
    }
  }
  const filter = body.webhook_events_filter;
  if (filter !== undefined) {
    if (!Array.isArray(filter)) fields.push(typeError('webhook_events_filter', 'array', filter));
    else {
      filter.forEach((ev, i) => {
        if (!(WEBHOOK_EVENTS as readonly unknown[]).includes(ev)) {
          fields.push({
            type: 'enum',
            field: `webhook_events_filter.${i}`,
            description: `webhook_events_filter.${i} must be one of the following: "start", "output", "logs", "completed"`,
          });
        }
      });
    }
  }
  if (body.stream !== undefined && typeof body.stream !== 'boolean')
    fields.push(typeError('stream', 'boolean', body.stream));
  if (fields.length > 0) throw inputValidationFailed(fields);
  return {
    ...(typeof body.version === 'string' ? { version: body.version } : {}),
    input: body.input as Record<string, unknown>,
    ...(typeof body.webhook === 'string' ? { webhook: body.webhook } : {}),
    ...(Array.isArray(filter) ? { webhookEventsFilter: filter as string[] } : {}),
    ...(typeof body.stream === 'boolean' ? { stream: body.stream } : {}),
    ...(typeof body.destination === 'string' ? { destination: body.destination } : {}),
  };
}

/** 422 for a version that does not exist or is not ours (§5). */
function invalidVersion(): HttpProblem {
  return problem(
    422,
    'Invalid version or not permitted',
    "The specified version does not exist (or perhaps you don't have permission to use it?)",
  );
}

function kindOf(rec: PredictionRecord): RunKind {
  return rec.kind ?? 'prediction';
}

function typeError(field: string, expected: string, value: unknown): InvalidField {
  const given = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return { type: 'invalid_type', field, description: `Invalid type. Expected: ${expected}, given: ${given}` };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Route name and path parameters for a /v1 path (without the /v1 prefix). */
function matchRoute(method: string, path: string): { name: string; params: string[] } {
  const routes: [string, string, RegExp][] = [
    ['POST', 'predictions.create', /^\/predictions$/],
    ['GET', 'predictions.list', /^\/predictions$/],
    ['GET', 'predictions.get', /^\/predictions\/([^/]+)$/],
    ['POST', 'predictions.cancel', /^\/predictions\/([^/]+)\/cancel$/],
    ['POST', 'models.predictions.create', /^\/models\/([^/]+)\/([^/]+)\/predictions$/],
    ['POST', 'deployments.predictions.create', /^\/deployments\/([^/]+)\/([^/]+)\/predictions$/],
    ['POST', 'trainings.create', /^\/models\/([^/]+)\/([^/]+)\/versions\/([^/]+)\/trainings$/],
    ['GET', 'trainings.list', /^\/trainings$/],
    ['GET', 'trainings.get', /^\/trainings\/([^/]+)$/],
    ['POST', 'trainings.cancel', /^\/trainings\/([^/]+)\/cancel$/],
    ['GET', 'webhooks.default.secret.get', /^\/webhooks\/default\/secret$/],
  ];
  let pathMatched = false;
  for (const [m, name, re] of routes) {
    const match = re.exec(path);
    if (!match) continue;
    if (m !== method) {
      pathMatched = true;
      continue;
    }
    return { name, params: match.slice(1).map((p) => decodeURIComponent(p)) };
  }
  return { name: pathMatched ? 'method_not_allowed' : 'unknown', params: [] };
}

function parseRecordedBody(text: string, recorded: RecordedRequest): unknown {
  try {
    const body = parseJsonBody(text);
    recorded.body = body;
    return body;
  } catch (err) {
    recorded.body = text;
    throw err;
  }
}

/** Request headers for the record; the Authorization value never leaves the simulator. */
function redactHeaders(headers: IncomingMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (name === 'authorization') {
      const scheme = /^(\S+)\s/.exec(headerValue(value) ?? '')?.[1];
      out[name] = scheme ? `${scheme} ***` : '***';
    } else out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** 26 lowercase base32 characters (a-z, 2-7), like `vgcm4plb7tgzlyznry5d5jkgvu` (§3). */
function newPredictionId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return Array.from(randomBytes(26), (b) => alphabet[b & 31]).join('');
}

function encodeCursor(position: number, reverse: boolean): string {
  return Buffer.from(`${reverse ? 'r=1&' : ''}p=${position}`).toString('base64url');
}

function decodeCursor(cursor: string): { position: number; reverse: boolean } | undefined {
  const q = new URLSearchParams(Buffer.from(cursor, 'base64url').toString('utf8'));
  const p = Number(q.get('p'));
  if (!Number.isInteger(p) || p <= 0) return undefined;
  return { position: p, reverse: q.get('r') === '1' };
}
