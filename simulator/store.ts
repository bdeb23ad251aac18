/**
 * The simulator's state: every prediction and training in creation order, one timer per run at its next
 * transition, change events (and the webhooks they trigger), and the waiters tests use.
 */
import { EventEmitter } from 'node:events';
import { randomInt } from 'node:crypto';
import { isTerminal } from './models';
import type { Prediction, RunKind } from './models';
import { outputAfterReading } from './behaviour';
import type { InputReads } from './inputs';
import { predictionView, startTime, timeline, transitionTimes } from './timeline';
import type { PredictionRecord } from './timeline';
import { DEFAULT_WEBHOOK_EVENTS } from './webhooks';
import type { DeliveryJob, WebhookDelivery, WebhookEvent } from './webhooks';

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

export interface Entry {
  rec: PredictionRecord;
  counters: PredictionCounters;
  /** fingerprint of the last emitted view */
  lastKey: string;
  lastStatus: Prediction['status'];
  lastLogsWebhookAt: number;
  timer?: NodeJS.Timeout;
}

export interface StoreOptions {
  clock: () => number;
  /** `http://127.0.0.1:PORT`, for the URLs in views */
  origin: () => string;
  outputTtlMs: number;
  /** false once the server stopped: no timers are scheduled then */
  running: () => boolean;
  webhooks: { send(job: DeliveryJob): void; settle(predictionId: string): void };
  /** what a run finds reading its file inputs at `at` (inputs.ts) */
  readInputs(rec: PredictionRecord, at: number): InputReads;
}

export function kindOf(rec: PredictionRecord): RunKind {
  return rec.kind ?? 'prediction';
}

export class RunStore {
  /** every webhook delivery attempt, in order */
  readonly webhookDeliveries: WebhookDelivery[] = [];

  private readonly entries = new Map<string, Entry>();
  /** ids of predictions and trainings, in creation order */
  private readonly order: string[] = [];
  private readonly events = new EventEmitter();
  private seq = 0;
  /** created_at (epoch µs) of the last run, so created_at strictly increases with creation order */
  private lastCreatedUs = -Infinity;

  constructor(private readonly options: StoreOptions) {
    this.events.setMaxListeners(0);
  }

  /** Forgets every run and webhook delivery. */
  reset(): void {
    this.clearTimers();
    this.entries.clear();
    this.order.length = 0;
    this.lastCreatedUs = -Infinity;
    this.webhookDeliveries.length = 0;
  }

  /** The server stopped: timers end and waiters reject. */
  stopped(): void {
    this.clearTimers();
    this.events.emit('stopped');
  }

  /**
   * The next sequence number and the sub-millisecond digits of created_at for a run created at `now`:
   * random, but created_at strictly increases in creation order (list order = created_at order).
   */
  stamp(now: number): { seq: number; micros: number } {
    const baseUs = Math.floor(now) * 1000 + Math.floor((now % 1) * 1000);
    const micros = Math.max(randomInt(1000), this.lastCreatedUs + 1 - baseUs);
    this.lastCreatedUs = baseUs + micros;
    return { seq: ++this.seq, micros };
  }

  /** Stores a new run and emits its first view. */
  add(rec: PredictionRecord): Entry {
    const entry: Entry = {
      rec,
      counters: { gets: 0, cancels: 0 },
      lastKey: '',
      lastStatus: 'starting',
      lastLogsWebhookAt: -Infinity,
    };
    this.entries.set(rec.id, entry);
    this.order.push(rec.id);
    this.refresh(entry);
    return entry;
  }

  get(id: string): Entry | undefined {
    return this.entries.get(id);
  }

  /** Runs of one kind, in creation order. */
  runs(kind: RunKind): Entry[] {
    return this.order.map((id) => this.entries.get(id)!).filter((e) => kindOf(e.rec) === kind);
  }

  ids(kind: RunKind): string[] {
    return this.runs(kind).map((e) => e.rec.id);
  }

  /** The current view without emitting anything. */
  peek(entry: Entry): Prediction {
    const { clock, origin, outputTtlMs } = this.options;
    const now = clock();
    this.settleReads(entry.rec, now);
    return predictionView(entry.rec, { origin: origin(), now, outputTtlMs });
  }

  /**
   * Once a run has started by `now`, what it read when it started (as of its start time, whenever this is
   * evaluated): a missing file fails it, a caption describes its image. Settled once.
   */
  settleReads(rec: PredictionRecord, now: number): void {
    if (rec.reads !== undefined) return;
    const start = startTime(rec);
    if (start === undefined || now < start) return;
    rec.reads = { pictures: {} }; // while reading: a run that (indirectly) reads itself finds nothing more
    rec.reads = this.options.readInputs(rec, start);
    rec.output = outputAfterReading(rec);
  }

  /** Re-evaluates every run against the clock and emits changes. */
  tick(): void {
    for (const id of this.order) {
      const entry = this.entries.get(id);
      if (entry) this.refresh(entry);
    }
  }

  /** POST .../cancel: a running or queued run becomes `canceled`; terminal ones are unchanged. */
  cancel(entry: Entry): Prediction {
    const now = this.options.clock();
    if (!isTerminal(timeline(entry.rec, now).status)) entry.rec.canceledAt = now;
    return this.refresh(entry);
  }

  recordWebhook(d: WebhookDelivery): void {
    this.webhookDeliveries.push(d);
    this.events.emit('webhook', d);
  }

  /** Computes the current view; emits 'update' (and webhooks) when it changed; schedules the next change. */
  refresh(entry: Entry): Prediction {
    const now = this.options.clock();
    this.settleReads(entry.rec, now);
    const view = predictionView(entry.rec, {
      origin: this.options.origin(),
      now,
      outputTtlMs: this.options.outputTtlMs,
    });
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

  /** One timer per run, at its next transition (status, log line, deadline, data removal). */
  private schedule(entry: Entry, now: number): void {
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = undefined;
    if (!this.options.running()) return;
    const times = transitionTimes(entry.rec);
    const completedAt = timeline(entry.rec, now).completedAt;
    if (completedAt !== undefined) times.push(completedAt + this.options.outputTtlMs);
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
        this.options.webhooks.send({
          url,
          predictionId: entry.rec.id,
          event,
          status: view.status,
          body,
          retry,
        });
      }
    };
    const terminalNow = isTerminal(view.status);
    if (previous === 'starting' && view.started_at !== undefined && !isTerminal(previous)) send('start');
    if (terminalNow && !isTerminal(previous)) {
      if (view.status === 'succeeded') send('output');
      send('completed', true);
      this.options.webhooks.settle(entry.rec.id);
      return;
    }
    if (!terminalNow && view.status === 'processing' && now - entry.lastLogsWebhookAt >= 500) {
      if (filter.includes('logs')) entry.lastLogsWebhookAt = now;
      send('logs');
    }
  }

  /** See ReplicateSimulator.waitFor. */
  waitFor(
    id: string | undefined,
    predicate: (p: Prediction) => boolean,
    timeoutMs: number,
  ): Promise<Prediction> {
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

  /** See ReplicateSimulator.waitForWebhook. */
  waitForWebhook(predicate: (d: WebhookDelivery) => boolean, timeoutMs: number): Promise<WebhookDelivery> {
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
}
