// Models whose runs vary (durationJitter, coldStart): each run draws its own duration and start delay, seeded.
import { describe, expect, it } from 'vitest';
import { call, clockedSimulator, created } from './helpers';

const models = {
  'test/noisy': { startDelayMs: 1_000, durationMs: 10_000, durationJitter: 0.3 },
  'test/cold': { startDelayMs: 1_000, durationMs: 10_000, coldStart: { rate: 0.5, delayMs: 20_000 } },
  'test/steady': { startDelayMs: 1_000, durationMs: 10_000 },
};

/** Create `n` runs of `model`, move the clock a day on, and read each run's timeline. */
async function timings(seed: number, model: string, n: number) {
  const { sim, advance } = clockedSimulator({ models, seed });
  const base = await sim.start();
  try {
    const ids: string[] = [];
    for (let i = 0; i < n; i++)
      ids.push(created(await call(base, 'POST', `/models/${model}/predictions`, { input: { i } })).id);
    advance(86_400_000);
    return await Promise.all(
      ids.map(async (id) => {
        const p = created(await call(base, 'GET', `/predictions/${id}`));
        const at = (iso?: string) => Date.parse(iso!);
        return { startMs: at(p.started_at) - at(p.created_at), runMs: at(p.completed_at) - at(p.started_at) };
      }),
    );
  } finally {
    await sim.stop();
  }
}

describe('ReplicateSimulator: runs that vary', () => {
  it('durationJitter: each run its own duration within the share, spread over it', async () => {
    const runs = await timings(1, 'test/noisy', 40);
    const durations = runs.map((r) => r.runMs);
    expect(Math.min(...durations)).toBeGreaterThanOrEqual(7_000);
    expect(Math.max(...durations)).toBeLessThanOrEqual(13_000);
    expect(Math.max(...durations) - Math.min(...durations)).toBeGreaterThan(4_000);
    expect(new Set(runs.map((r) => r.startMs))).toEqual(new Set([1_000]));
  });

  it('coldStart: about that share of runs starts later by the delay, the others on time', async () => {
    const runs = await timings(2, 'test/cold', 40);
    const cold = runs.filter((r) => r.startMs === 21_000).length;
    expect(runs.filter((r) => r.startMs === 1_000).length + cold).toBe(40);
    expect(cold).toBeGreaterThan(8);
    expect(cold).toBeLessThan(32);
    expect(new Set(runs.map((r) => r.runMs))).toEqual(new Set([10_000]));
  });

  it('is the same for the same seed, and a steady model never varies', async () => {
    expect(await timings(3, 'test/noisy', 5)).toEqual(await timings(3, 'test/noisy', 5));
    expect(await timings(4, 'test/steady', 5)).toEqual(Array(5).fill({ startMs: 1_000, runMs: 10_000 }));
  });
});
