import type { PollingOptions } from './types';

export const DEFAULT_POLLING: Required<PollingOptions> = {
  initialIntervalMs: 3_000,
  multiplier: 1.5,
  maxIntervalMs: 30_000,
};

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
