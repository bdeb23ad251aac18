/**
 * The polling policy, in one place: the backoff between status polls (3 s, ×1.5, capped at 30 s by default), the
 * slower fallback schedule used when webhooks are on, the bounds a request may set, and when a long run continues
 * as new. Where the end of a job can be foreseen, ./predictive-polling.ts plans the polls around it, within this
 * backoff's cap and twice its GETs. Changing a value here changes workflow behaviour: from 1.0 on, only behind `patched()` with newly
 * recorded histories (CHANGELOG.md, "Workflow compatibility").
 */
import type { PollingOptions } from './types';

export const DEFAULT_POLLING: Required<PollingOptions> = {
  initialIntervalMs: 3_000,
  multiplier: 1.5,
  maxIntervalMs: 30_000,
  // where the model's timing or the job's progress foretells the end (./predictive-polling.ts)
  predictive: true,
};

/**
 * With webhooks on, polling is only the fallback for lost deliveries (Replicate already retries the terminal
 * webhook): 60 s, ×2, capped at 5 min, restarted by every webhook, so a job of up to 3 minutes costs at most one
 * GET besides its create.
 */
export const WEBHOOK_FALLBACK_POLLING: Required<PollingOptions> = {
  initialIntervalMs: 60_000,
  multiplier: 2,
  maxIntervalMs: 300_000,
  predictive: false,
};

/** What a request's `polling` may set: intervals of 100 ms to 1 h, a multiplier of 1 to 10. */
export const POLLING_BOUNDS = { minIntervalMs: 100, maxIntervalMs: 3_600_000, maxMultiplier: 10 } as const;

/** Continue-as-new after this many polls in one run (a poll adds events and a workflow task). */
export const DEFAULT_MAX_POLLS_PER_RUN = 500;

/** The polling options with defaults filled in. Validation lives in `validateRequest`. */
export function withPollingDefaults(options: PollingOptions | undefined): Required<PollingOptions> {
  return { ...DEFAULT_POLLING, ...stripUndefined(options ?? {}) };
}

/**
 * Wait before poll number `poll` (0-based): initial × multiplier^poll, capped.
 * Whole milliseconds, so timers recorded in the history read cleanly.
 */
export function pollDelayMs(poll: number, options: Required<PollingOptions>): number {
  const raw = options.initialIntervalMs * Math.pow(options.multiplier, poll);
  return Math.round(Math.min(raw, options.maxIntervalMs));
}

/** The whole schedule of waits that fit in `budgetMs` (for docs, tests and estimates). */
export function pollSchedule(budgetMs: number, options: Required<PollingOptions>): number[] {
  const waits: number[] = [];
  let total = 0;
  for (let poll = 0; ; poll++) {
    const wait = pollDelayMs(poll, options);
    if (wait <= 0 || total + wait > budgetMs) return waits;
    waits.push(wait);
    total += wait;
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
