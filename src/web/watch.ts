/**
 * Live updates without a query storm. Each open workflow (and each home-page filter) has ONE Watch, shared by
 * every browser tab that shows it: the Watch reads it when it changes while at least one tab listens, renders the
 * page's live regions once, and sends each tab only the regions that changed (server-sent events). A Watch reads
 * nothing while nobody listens, and nothing ever again once its workflow has closed.
 *
 * How a Watch hears of changes, and the rates (WATCH_INTERVALS):
 * - A workflow (a run, a pipeline and its running steps' child runs) is followed with a long poll on its history
 *   (./read/follow.ts): the server answers when the workflow writes events, or after ~20 s with nothing. Only then
 *   is it queried (`status`, `progress`), at most once per 500 ms per Watch, so a change the workflow knows
 *   reaches the page after one query's round trip. Nothing changing costs one long poll per ~20 s per workflow,
 *   plus one read per 30 s as a backstop. Measured (`npm run bench:web`, docs/web.md): 50 open pipeline pages
 *   whose runs poll Replicate every 30 s cost 3.8 queries/s and 9.3 long polls/s in all, and moved the dev
 *   server's CPU from 3.8 % to 4.7 % of a core, whatever the number of tabs (querying every workflow each second
 *   instead measured 100 queries/s and 28.7 %).
 * - A source that cannot be followed is read every interval instead: the home list every 5 s (one visibility
 *   `list`, plus the `progress` of at most 10 running pipelines in it).
 * - Closed workflows cost one read when first shown (their result, kept) and none after.
 */
import type { Html } from './html';

export const WATCH_INTERVALS = {
  /** at most one read per this, however often a followed workflow changes */
  minGapMs: 500,
  /** a followed workflow is read this often even when it says nothing (a backstop) */
  backstopMs: 30_000,
  /** the home list (not followed): one read per this */
  listMs: 5_000,
} as const;

/** A listening tab: gets `regions` events (id -> inner HTML of the regions that changed). */
export interface Listener {
  send(event: string, data: string): void;
}

export interface WatchSource<V> {
  read(): Promise<V>;
  /** nothing will change any more (a closed workflow) */
  closed(): boolean;
  /**
   * Start hearing of changes: `changed()` each time what `read` answers may have changed; returns how to stop.
   * Without it, the Watch reads every `intervalMs`.
   */
  follow?(changed: () => void): () => void;
}

export class Watch<V> {
  private view: V | undefined;
  private readonly regions = new Map<string, string>();
  private readonly listeners = new Set<Listener>();
  private reading: Promise<V> | undefined;
  private looping = false;
  /** when the last read started */
  private readAt = 0;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  /** a followed source said it changed since the last read */
  private dirty = false;
  /** when a tab last asked for this Watch (the hub forgets idle ones) */
  lastUsed = Date.now();

  constructor(
    private readonly source: WatchSource<V>,
    private readonly render: (view: V) => Record<string, Html>,
    private readonly intervalMs: number,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  get listening(): number {
    return this.listeners.size;
  }

  /** The current view: the last read while tabs listen (or once closed), else a fresh read. */
  async current(): Promise<V> {
    this.lastUsed = Date.now();
    if (this.view !== undefined && (this.looping || this.source.closed())) return this.view;
    return this.refresh();
  }

  /** Listen: at once every region as it is now, then the regions that change; returns the way to stop. */
  subscribe(listener: Listener): () => void {
    this.lastUsed = Date.now();
    this.listeners.add(listener);
    if (this.regions.size > 0) listener.send('regions', JSON.stringify(Object.fromEntries(this.regions)));
    if (this.source.closed()) listener.send('closed', '{}');
    else void this.loop();
    return () => {
      this.listeners.delete(listener);
      this.lastUsed = Date.now();
      if (this.listeners.size === 0) this.wake?.(); // the loop ends, and stops following
    };
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake?.();
  }

  private refresh(): Promise<V> {
    if (!this.reading) this.readAt = Date.now();
    this.reading ??= this.source
      .read()
      .then((view) => {
        this.view = view;
        this.publish(view);
        return view;
      })
      .finally(() => (this.reading = undefined));
    return this.reading;
  }

  private publish(view: V): void {
    const changed: Record<string, string> = {};
    for (const [id, markup] of Object.entries(this.render(view))) {
      if (this.regions.get(id) === markup.text) continue;
      this.regions.set(id, markup.text);
      changed[id] = markup.text;
    }
    if (Object.keys(changed).length === 0) return;
    const data = JSON.stringify(changed);
    for (const l of this.listeners) l.send('regions', data);
  }

  /**
   * While anyone listens and the workflow is open: a followed source is read when it says it changed (at most once
   * per WATCH_INTERVALS.minGapMs, and at least once per backstopMs); any other every `intervalMs`. One loop per Watch.
   */
  private async loop(): Promise<void> {
    if (this.looping) return;
    this.looping = true;
    const unfollow = this.source.follow?.(() => {
      this.dirty = true;
      this.wake?.();
    });
    try {
      const go = () => !this.stopped && this.listeners.size > 0 && !this.source.closed();
      while (go()) {
        if (unfollow) {
          if (!this.dirty)
            await this.pause(Math.max(0, this.readAt + WATCH_INTERVALS.backstopMs - Date.now()));
          if (!go()) break;
          await this.pause(Math.max(0, this.readAt + WATCH_INTERVALS.minGapMs - Date.now()), false);
        } else {
          // one read per interval, counted from the last one (a page's own render included)
          await this.pause(Math.max(0, this.readAt + this.intervalMs - Date.now()));
        }
        if (!go()) break;
        this.dirty = false;
        await this.refresh().catch(this.onError);
      }
      if (this.source.closed()) for (const l of this.listeners) l.send('closed', '{}');
    } finally {
      unfollow?.();
      this.looping = false;
    }
  }

  /** Wait `ms`; a change (when `wakeOnChange`), a stop or the last tab leaving ends it early. */
  private pause(ms: number, wakeOnChange = true): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(this.timer);
        this.wake = undefined;
        resolve();
      };
      this.wake = wakeOnChange
        ? done
        : () => (this.stopped || this.listeners.size === 0 ? done() : undefined);
      this.timer = setTimeout(done, ms);
      this.timer.unref();
    });
  }
}

/** The Watches of one page server, by key; idle ones are forgotten after a while (closed ones are kept longer). */
export class Hub {
  private readonly watches = new Map<string, Watch<unknown>>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly idleMs = 60_000,
    private readonly maxKept = 500,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(idleMs, 30_000));
    this.sweeper.unref();
  }

  get<V>(key: string, create: () => Watch<V>): Watch<V> {
    let watch = this.watches.get(key) as Watch<V> | undefined;
    if (!watch) {
      watch = create();
      this.watches.set(key, watch as Watch<unknown>);
    }
    return watch;
  }

  /** Watches with at least one listening tab. */
  active(): number {
    return [...this.watches.values()].filter((w) => w.listening > 0).length;
  }

  sweep(now = Date.now()): void {
    for (const [key, w] of this.watches)
      if (w.listening === 0 && now - w.lastUsed > this.idleMs) {
        w.stop();
        this.watches.delete(key);
      }
    // the oldest first: Map keeps insertion order
    for (const [key, w] of this.watches) {
      if (this.watches.size <= this.maxKept) break;
      if (w.listening === 0) {
        w.stop();
        this.watches.delete(key);
      }
    }
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const w of this.watches.values()) w.stop();
    this.watches.clear();
  }
}
