/**
 * A local Replicate API simulator: an HTTP server that behaves like https://api.replicate.com/v1 closely
 * enough that code which works against it works in production (docs/replicate-api.md), plus fault injection
 * and counters/waiters for tests. What it is and its layout: simulator/README.md.
 */
import { randomInt } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { RecordedRequest, SimContext } from './context';
import { createLog } from './create-log';
import type { CreateLogEntry } from './create-log';
import { outputPicture } from './behaviour';
import { FaultInjector } from './faults';
import type { Faults } from './faults';
import { DEFAULT_FILE_TTL_MS, DEFAULT_MAX_FILE_BYTES, FileStore, fileView } from './files';
import type { FileView } from './files';
import { DEFAULT_MAX_BODY_BYTES } from './http';
import { BUILTIN_DEPLOYMENTS, BUILTIN_MODELS } from './models';
import type { ModelScript, Prediction, Training } from './models';
import { readInputs } from './inputs';
import type { FileSources } from './inputs';
import { handleRequest } from './routes';
import { outputFileAt } from './timeline';
import type { LeanMode } from './timeline';
import { RunStore, kindOf } from './store';
import type { PredictionCounters, WaitForOptions } from './store';
import { DEFAULT_WEBHOOK_RETRY_DELAYS_MS, WebhookSender, newWebhookSecret } from './webhooks';
import type { WebhookDelivery } from './webhooks';

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
export { LEAN_MODES } from './timeline';
export type { LeanMode } from './timeline';
export { DEVIATIONS } from './deviations';
export type { Deviation } from './deviations';
export { signWebhook } from './webhooks';
export type { WebhookDelivery, WebhookEvent } from './webhooks';
export type { Faults } from './faults';
export type { FileView } from './files';
export type { RecordedRequest } from './context';
export type { CreateLogEntry } from './create-log';
export type { PredictionCounters, WaitForOptions } from './store';

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
  /** uploads (POST /v1/files) over this many bytes get 413 (default 100 MiB) */
  maxFileBytes?: number;
  /** uploads expire this long after they were created, on the simulator's clock (default 24 h) */
  fileTtlMs?: number;
  /**
   * Leave `deadline`, `webhook` and `webhook_events_filter` out of list results ('list'), or out of list, get,
   * cancel and create answers ('list-and-get'): the description does not promise them. Default: echoed.
   */
  lean?: LeanMode;
}

export class ReplicateSimulator {
  readonly requests: RecordedRequest[] = [];
  /** every webhook delivery attempt, in order */
  readonly webhookDeliveries: WebhookDelivery[];

  private readonly options: SimulatorOptions;
  private readonly models = new Map<string, ModelScript>();
  private readonly deployments = new Map<string, string>();
  private readonly sockets = new Set<Socket>();
  private readonly faults: FaultInjector;
  private readonly store: RunStore;
  private readonly files: FileStore;
  private readonly webhooks: WebhookSender;
  private readonly context: SimContext;
  private server: Server | undefined;
  private leanMode: LeanMode | undefined;
  private originUrl: string | undefined;

  constructor(options: SimulatorOptions = {}) {
    this.options = options;
    const clock = options.now ?? Date.now;
    const webhookSecret = options.webhookSecret ?? newWebhookSecret();
    for (const [ref, script] of Object.entries({ ...BUILTIN_MODELS, ...options.models }))
      this.models.set(ref, script);
    for (const [name, model] of Object.entries({ ...BUILTIN_DEPLOYMENTS, ...options.deployments })) {
      this.deployments.set(name, model);
    }
    const origin = (): string => this.origin; // known once start() has listened
    const faults = new FaultInjector(options.seed ?? randomInt(2 ** 31), clock);
    faults.set(options.faults ?? {});
    this.faults = faults;
    this.webhooks = new WebhookSender({
      secret: () => webhookSecret,
      now: clock,
      retryDelaysMs: () => options.webhookRetryDelaysMs ?? DEFAULT_WEBHOOK_RETRY_DELAYS_MS,
      dropRate: () => faults.current.webhookDropRate ?? 0,
      duplicateRate: () => faults.current.webhookDuplicateRate ?? 0,
      delayMs: () => faults.current.webhookDelayMs ?? 0,
      reorder: () => faults.current.webhookReorder ?? false,
      random: () => faults.random(),
      record: (d) => this.store.recordWebhook(d),
    });
    const outputTtlMs = options.outputTtlMs ?? 60 * 60 * 1000;
    const sources: FileSources = {
      get origin() {
        return origin();
      },
      output: (id, name, at) => {
        const rec = this.store.get(id)?.rec;
        if (!rec) return undefined;
        this.store.settleReads(rec, at);
        if (!outputFileAt(rec, name, { origin: this.origin, now: at, at, outputTtlMs })) return undefined;
        return name.endsWith('.png') ? { picture: outputPicture(rec, name) } : {};
      },
      upload: (id, at) => this.files.get(id, at)?.bytes,
      signed: (id, query, at) => this.files.verify(id, query, at),
    };
    this.store = new RunStore({
      clock,
      origin: () => this.origin,
      outputTtlMs,
      running: () => this.server !== undefined,
      webhooks: this.webhooks,
      readInputs: (rec, at) => readInputs(rec.input, at, sources),
    });
    this.webhookDeliveries = this.store.webhookDeliveries;
    this.files = new FileStore(clock, options.fileTtlMs ?? DEFAULT_FILE_TTL_MS);
    this.leanMode = options.lean;
    const lean = (): LeanMode | undefined => this.leanMode;
    this.context = {
      token: options.token ?? 'sim-token',
      clock,
      get origin() {
        return origin();
      },
      get baseUrl() {
        return `${origin()}/v1`;
      },
      models: this.models,
      deployments: this.deployments,
      store: this.store,
      files: this.files,
      maxFileBytes: options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
      faults,
      pageSize: options.pageSize ?? 100,
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      webhookSecret,
      verbose: options.verbose ?? false,
      get lean() {
        return lean();
      },
      requests: this.requests,
      reset: () => this.reset(),
    };
  }

  // ---------------------------------------------------------------- lifecycle

  /** Starts listening; resolves with the base URL, e.g. 'http://127.0.0.1:PORT/v1'. */
  async start(): Promise<string> {
    if (this.server) throw new Error('ReplicateSimulator already started');
    const server = createServer((req, res) => void handleRequest(this.context, req, res));
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
    this.webhooks.cancelAll();
    this.store.stopped();
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
    this.faults.set(faults);
  }

  /** Switch the lean mode (SimulatorOptions.lean) on a running simulator; undefined = echo everything. */
  setLean(mode: LeanMode | undefined): void {
    this.leanMode = mode;
  }

  setModel(ref: string, script: ModelScript): void {
    this.models.set(ref, script);
  }

  setDeployment(name: string, model: string): void {
    this.deployments.set(name, model);
  }

  /** Forgets predictions, trainings, uploads, recorded requests and webhook deliveries; faults and lean go back to the options. */
  reset(): void {
    this.webhooks.cancelAll();
    this.store.reset();
    this.files.reset();
    this.requests.length = 0;
    this.faults.reset(this.options.faults ?? {});
    this.leanMode = this.options.lean;
  }

  /** Signing secret of the webhooks this simulator sends. */
  get webhookSigningSecret(): string {
    return this.context.webhookSecret;
  }

  // ---------------------------------------------------------------- inspection

  /** Number of predictions actually stored (trainings not included: see trainingCreates()). */
  creates(): number {
    return this.store.ids('prediction').length;
  }

  /** Number of trainings actually stored. */
  trainingCreates(): number {
    return this.store.ids('training').length;
  }

  /** Prediction ids in creation order (no trainings). */
  predictionIds(): string[] {
    return this.store.ids('prediction');
  }

  /** Training ids in creation order. */
  trainingIds(): string[] {
    return this.store.ids('training');
  }

  /**
   * Every create request so far (the four create routes, in arrival order): arrival and commit times on the
   * simulator's clock, the id it made (none when nothing was stored: a 429, a 4xx, a reset before the commit) and
   * when a cancel of that run took effect.
   */
  createLog(): CreateLogEntry[] {
    return createLog(this.requests, this.store);
  }

  /** GET/cancel calls for a prediction or a training id. */
  counters(id: string): PredictionCounters {
    const c = this.store.get(id)?.counters;
    return { gets: c?.gets ?? 0, cancels: c?.cancels ?? 0 };
  }

  /**
   * Current public view, as GET /v1/predictions/{id} (or GET /v1/trainings/{id} for a training id) would
   * return it. Works for both kinds; isTraining(view) tells them apart.
   */
  prediction(id: string): Prediction | undefined {
    const entry = this.store.get(id);
    return entry ? this.store.refresh(entry) : undefined;
  }

  /** Current view of a training; undefined for unknown ids and for predictions. */
  training(id: string): Training | undefined {
    const entry = this.store.get(id);
    return entry && kindOf(entry.rec) === 'training' ? (this.store.refresh(entry) as Training) : undefined;
  }

  /** An upload as GET /v1/files/{id} would answer it now; undefined once deleted or expired. */
  file(id: string): FileView | undefined {
    const file = this.files.get(id);
    return file ? fileView(file, this.baseUrl) : undefined;
  }

  /**
   * A signed download URL for an upload (`/v1/files/{id}/download?owner&expiry&signature`, the description's
   * files.download), valid for `validForMs` on the simulator's clock (default 1 h). Replicate hands these out
   * through channels the description does not document; tests and models get them here.
   */
  fileDownloadUrl(id: string, validForMs = 60 * 60 * 1000): string {
    const expiry = Math.floor((this.context.clock() + validForMs) / 1000);
    const query = new URLSearchParams(this.files.sign(id, expiry));
    return `${this.baseUrl}/files/${encodeURIComponent(id)}/download?${query.toString()}`;
  }

  /**
   * Re-evaluates every prediction against the clock and emits changes. Timers do this on their own with a
   * real clock; call it after advancing an injected clock.
   */
  tick(): void {
    this.store.tick();
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
    return this.store.waitFor(id, predicate, opts.timeoutMs ?? 30_000);
  }

  /**
   * Resolves with the first recorded webhook delivery attempt (see webhookDeliveries) for which predicate is
   * true: already recorded ones first, then new ones as they are recorded (after the receiver answered).
   */
  waitForWebhook(
    predicate: (d: WebhookDelivery) => boolean,
    opts: { timeoutMs?: number } = {},
  ): Promise<WebhookDelivery> {
    return this.store.waitForWebhook(predicate, opts.timeoutMs ?? 30_000);
  }
}
