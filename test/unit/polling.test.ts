import { describe, expect, it } from 'vitest';
import { DEFAULT_POLLING, pollDelayMs, pollSchedule, withPollingDefaults } from '../../src/shared/polling';

describe('poll backoff', () => {
  it('starts at 3 s, grows ×1.5 and caps at 30 s by default', () => {
    const waits = Array.from({ length: 9 }, (_, i) => pollDelayMs(i, DEFAULT_POLLING));
    expect(waits).toEqual([3000, 4500, 6750, 10125, 15188, 22781, 30000, 30000, 30000]);
  });

  it('fits 23 polls in the default 10-minute ceiling (6 growing waits, then every 30 s)', () => {
    const waits = pollSchedule(10 * 60_000, DEFAULT_POLLING);
    expect(waits.length).toBe(23);
    expect(waits.reduce((a, b) => a + b, 0)).toBe(62_344 + 17 * 30_000);
  });

  it('takes per-run options and ignores undefined fields', () => {
    const options = withPollingDefaults({ initialIntervalMs: 100, multiplier: 2, maxIntervalMs: undefined });
    expect(options).toEqual({
      initialIntervalMs: 100,
      multiplier: 2,
      maxIntervalMs: 30_000,
      predictive: true,
    });
    expect([0, 1, 2, 3].map((i) => pollDelayMs(i, { ...options, maxIntervalMs: 500 }))).toEqual([
      100, 200, 400, 500,
    ]);
  });
});
