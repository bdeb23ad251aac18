/**
 * Live updates without a query storm. Each open workflow (and each home-page filter) has ONE Watch, shared by
 * every browser tab that shows it: the Watch reads it once per interval while at least one tab listens, renders
 * the page's live regions once, and sends each tab only the regions that changed (server-sent events). A Watch
 * reads nothing while nobody listens, and nothing ever again once its workflow has closed.
 *
 * The rates (WATCH_INTERVALS): a running run or pipeline is read every 1 s (one `status` or `progress` query; a
 * pipeline also asks the `status` of at most 10 of its running steps' child runs per read), so a change the
 * workflow knows reaches the page within about 1 s plus the query's round trip; the home list every 5 s (one
 * visibility `list`, plus the `progress` of at most 10 running pipelines in it). With 50 pipeline pages open, each
 * with one running step, that is 50 progress + 50 status queries a second, whatever the number of tabs; closed
 * workflows cost one read when first shown (their result, kept) and none after.
 */
import type { Html } from './html';

export const WATCH_INTERVALS = { workflowMs: 1_000, listMs: 5_000 } as const;

/** A listening tab: gets `regions` events (id -> inner HTML of the regions that changed). */
export interface Listener {
  send(event: string, data: string): void;
}

export interface WatchSource<V> {
  read(): Promise<V>;
  /** nothing will change any more (a closed workflow) */
  closed(): boolean;
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

  /** Read every interval while anyone listens and the workflow is open; one loop per Watch. */
  private async loop(): Promise<void> {
    if (this.looping) return;
    this.looping = true;
    try {
      const go = () => !this.stopped && this.listeners.size > 0 && !this.source.closed();
      while (go()) {
        // one read per interval, counted from the last one (a page's own render included)
        await this.pause(Math.max(0, this.readAt + this.intervalMs - Date.now()));
        if (!go()) break;
        await this.refresh().catch(this.onError);
      }
      if (this.source.closed()) for (const l of this.listeners) l.send('closed', '{}');
    } finally {
      this.looping = false;
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
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
