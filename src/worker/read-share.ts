/**
 * Local reads within the fleet's budget (REPLICATE_READ_RPM): most of the budget (REPLICATE_READ_LOCAL_SHARE) is
 * split among the worker processes, each spending its share on status polls made as local activities (a marker in
 * the history, no task through the server). A poll that finds the share spent waits for its turn on a durable timer
 * (the share reserves its read: `grant` answers how long), so the fleet never exceeds its budget and a poll never
 * pays a regular activity's cost. The rate-limited reads queue (./flow-control.ts, the rest of the budget) remains
 * for what cannot be shared: a worker that cannot read the fleet's membership, cancels and lists.
 *
 * The split needs the number of worker processes, and every worker must see the same: it is read from Temporal
 * itself, the pollers of the reads queue (DescribeTaskQueue every SHARE_REFRESH_MS; every worker process polls that
 * queue). A worker that has just started reads nothing until the others can have counted it (one refresh after it has
 * seen itself listed: its polls wait meanwhile); one that stopped stays listed for a while (the server's poller
 * history), which only makes the others' shares smaller. A worker that cannot read the list for three refreshes
 * sends its polls to the reads queue.
 *
 * The share is a sliding 60 s window: a read is granted now while the last 60 s hold fewer than the share's reads, so
 * the limit costs nothing until the minute's budget binds (a burst of the whole share at once included: Replicate
 * tolerates short bursts and answers 429 with a delay otherwise, which polls honour). Once it binds, a read reserves
 * the first moment the window has room (at most MAX_RESERVATION_MS ahead, so a change of the share soon applies),
 * and no 60 s window holds more than the share. (A 5 s token bucket, before, made 2,000 runs polling together wait on
 * timers while the fleet was far under its budget: +27 % server CPU in the flow bench.) At a change of the fleet the
 * split is per worker: in the minute a worker joins, the others' last reads at their old share and the newcomer's
 * first ones may together exceed the local share by up to the newcomer's share (docs/budgets-and-limits.md).
 * Hand-written: its rate changes with the fleet, which npm limiters do not model.
 */

import type { ReadGrant, ReadShare } from '../activities/context';

/** The part of REPLICATE_READ_RPM the workers spend locally by default; the reads queue keeps the rest. */
export const DEFAULT_LOCAL_READ_SHARE = 0.9;
export const SHARE_REFRESH_MS = 5_000;
/** The window the share counts reads in: Replicate's budgets are per minute. */
const WINDOW_MS = 60_000;
/** A worker that never sees itself listed (another identity) reads after this many refreshes. */
const UNSEEN_REFRESHES = 6;
/** A read is never reserved further ahead than this: past it, the poll comes back (and reserves) later. */
export const MAX_RESERVATION_MS = 30_000;

export interface ReadShareOptions {
  /** what the whole fleet may read locally, per minute (REPLICATE_READ_RPM × the local share) */
  fleetPerMinute: number;
  /** the identities polling the reads queue now (DescribeTaskQueue's pollers) */
  listPollers: () => Promise<string[]>;
  /** this process's reads Worker's identity (when the list shows it under another name, the count adds one) */
  identity: string;
  refreshMs?: number;
  now?: () => number;
  /** one line when the split changes or the list cannot be read */
  log?: (line: string) => void;
}

export interface ReadShareState {
  /** worker processes counted (this one included) */
  workers: number;
  /** this worker's share, reads a minute */
  perMinute: number;
  /** the list is fresh and the others can have counted this worker: reads are granted */
  active: boolean;
}

export class FleetReadShare implements ReadShare {
  private readonly refreshMs: number;
  private readonly now: () => number;
  private readonly startedAt: number;
  private selfSeenAt: number | undefined;
  private lastListedAt: number | undefined;
  private workers = 0;
  /** the times of the reads granted in the last WINDOW_MS and of those reserved ahead, ascending, from `head` */
  private grants: number[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  private first: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private failing = false;

  constructor(private readonly options: ReadShareOptions) {
    this.refreshMs = options.refreshMs ?? SHARE_REFRESH_MS;
    this.now = options.now ?? Date.now;
    // from the start, so that the other workers count this one before its first poll
    this.startedAt = this.now();
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
    // the first list once the reads Worker has had a moment to start polling
    this.first = setTimeout(() => void this.refresh(), Math.min(1_000, this.refreshMs));
    this.first.unref();
  }

  /** One read: now, after a wait (reserved, or to ask again), or on the reads queue. */
  grant(): ReadGrant {
    const now = this.now();
    if (!this.listFresh(now)) {
      // not listed yet since the start: soon; listed once but no longer readable: the queue
      return this.lastListedAt === undefined && now - this.startedAt < 3 * this.refreshMs
        ? { waitMs: this.refreshMs, reserved: false }
        : { queue: true };
    }
    const countedAt = this.countedAt();
    if (now < countedAt) return { waitMs: countedAt - now, reserved: false };
    const slot = this.nextSlot(Math.max(1, Math.floor(this.state().perMinute)), now);
    if (slot - now > MAX_RESERVATION_MS) return { waitMs: MAX_RESERVATION_MS, reserved: false };
    this.insert(slot);
    return slot === now ? { now: true } : { waitMs: slot - now, reserved: true };
  }

  /** Adds a read at `t`, keeping `grants` sorted (a read now may come before reads reserved ahead). */
  private insert(t: number): void {
    let at = this.grants.length;
    while (at > this.head && this.grants[at - 1]! > t) at--;
    this.grants.splice(at, 0, t);
  }

  /**
   * The first moment from `now` at which one more read keeps every 60 s window within `limit`: now while the window
   * (reads reserved ahead included, at most 30 s ahead) holds fewer, else 60 s after the read `limit` places back.
   */
  private nextSlot(limit: number, now: number): number {
    while (this.head < this.grants.length && this.grants[this.head]! <= now - WINDOW_MS) this.head++;
    if (this.head > 1_024 && this.head * 2 > this.grants.length) {
      this.grants = this.grants.slice(this.head);
      this.head = 0;
    }
    const held = this.grants.length - this.head;
    return held < limit ? now : Math.max(now, this.grants[this.grants.length - limit]! + WINDOW_MS);
  }

  state(): ReadShareState {
    const now = this.now();
    const workers = Math.max(1, this.workers);
    return {
      workers,
      perMinute: this.options.fleetPerMinute / workers,
      active: this.listFresh(now) && now >= this.countedAt(),
    };
  }

  /**
   * When the other workers can have counted this one: a refresh after it saw itself listed; if it never does (the
   * list shows its reads Worker under another identity, which the others count and this one counts once more),
   * after UNSEEN_REFRESHES refreshes.
   */
  private countedAt(): number {
    return this.selfSeenAt !== undefined
      ? this.selfSeenAt + this.refreshMs
      : this.startedAt + UNSEEN_REFRESHES * this.refreshMs;
  }

  /** Read the fleet's pollers now (the loop does it every refreshMs). */
  refresh(): Promise<void> {
    this.refreshing ??= this.list().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /** Stop refreshing (grants then stop once the last list is three refreshes old). */
  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.first);
    this.timer = undefined;
  }

  private listFresh(now: number): boolean {
    return this.lastListedAt !== undefined && now - this.lastListedAt <= 3 * this.refreshMs;
  }

  private async list(): Promise<void> {
    let pollers: string[];
    try {
      pollers = await this.options.listPollers();
    } catch (error) {
      if (!this.failing)
        this.options.log?.(`local reads: cannot list the reads queue's pollers (${String(error)})`);
      this.failing = true;
      return;
    }
    this.failing = false;
    const now = this.now();
    const fleet = new Set(pollers);
    if (fleet.has(this.options.identity)) this.selfSeenAt ??= now;
    fleet.add(this.options.identity);
    if (fleet.size !== this.workers)
      this.options.log?.(
        `local reads: ${fleet.size} worker process${fleet.size === 1 ? '' : 'es'} share ${Math.round(this.options.fleetPerMinute)} reads a minute (${Math.round(this.options.fleetPerMinute / fleet.size)} each)`,
      );
    this.workers = fleet.size;
    this.lastListedAt = now;
  }
}
