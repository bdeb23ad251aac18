/**
 * `compare`'s prediction set: models that run again and again, as in production, so that what the workers learn of
 * a model (predictive polling) has something to learn from. A fifth of the predictions are of a steady 20 s model, a
 * tenth of a steady 60 s one, the rest drawn from a pool of 5–120 s models: steady ones (±3 %) and noisy ones (±30 %),
 * some with progress in their logs (`step k/50`, a 100-step tqdm bar), cold boots on 15 % of the pool's runs (15 s
 * more in `starting`). Each run's own duration and cold boot are drawn by the simulator (durationJitter, coldStart).
 */
import type { ModelScript } from '../../simulator';
import type { BenchEnv } from './env';
import { rng } from './lib';

export type PredictionClass = 'random' | '20s' | '60s';

export interface PoolModel {
  name: string;
  /** typical duration, created → completed, unscaled, ms */
  nominalMs: number;
  /** each run's running time within ± this share */
  jitter: number;
  progress: 'none' | 'steps' | 'tqdm';
  /** 15 % of its runs boot cold */
  cold: boolean;
}

export const TWENTY: PoolModel = {
  name: 'steady-20s',
  nominalMs: 20_000,
  jitter: 0.02,
  progress: 'none',
  cold: false,
};
export const SIXTY: PoolModel = {
  name: 'steady-60s',
  nominalMs: 60_000,
  jitter: 0.02,
  progress: 'none',
  cold: false,
};
export const POOL: PoolModel[] = [
  { name: 'steady-5s', nominalMs: 5_000, jitter: 0.03, progress: 'none', cold: true },
  { name: 'noisy-12s-steps', nominalMs: 12_000, jitter: 0.3, progress: 'steps', cold: true },
  { name: 'noisy-30s', nominalMs: 30_000, jitter: 0.3, progress: 'none', cold: true },
  { name: 'steady-45s-steps', nominalMs: 45_000, jitter: 0.03, progress: 'steps', cold: true },
  { name: 'noisy-75s-tqdm', nominalMs: 75_000, jitter: 0.3, progress: 'tqdm', cold: true },
  { name: 'noisy-90s', nominalMs: 90_000, jitter: 0.3, progress: 'none', cold: true },
  { name: 'steady-120s', nominalMs: 120_000, jitter: 0.03, progress: 'none', cold: true },
];
export const ALL_MODELS: PoolModel[] = [TWENTY, SIXTY, ...POOL];

const COLD_RATE = 0.15;
const COLD_DELAY_MS = 15_000;

export interface Spec {
  index: number;
  model: string;
  cls: PredictionClass;
  /** the model's typical duration, unscaled, ms */
  nominalMs: number;
  /** the same, scaled by the time factor (each run's own differs by its jitter and cold boot) */
  durationMs: number;
}

export function modelRef(prefix: string, m: PoolModel): string {
  return `${prefix}/${m.name}`;
}

/** N specs: ~20 % of the 20 s model, ~10 % of the 60 s one, the rest drawn from the pool. */
export function makeMixedSpecs(size: number, timeFactor: number, seed: number, prefix: string): Spec[] {
  const random = rng(seed);
  const n20 = Math.max(1, Math.round(size / 5));
  const n60 = size >= 2 ? Math.max(1, Math.round(size / 10)) : 0;
  return Array.from({ length: size }, (_, index) => {
    const cls: PredictionClass = index < n20 ? '20s' : index < n20 + n60 ? '60s' : 'random';
    const m = cls === '20s' ? TWENTY : cls === '60s' ? SIXTY : POOL[Math.floor(random() * POOL.length)]!;
    return {
      index,
      model: modelRef(prefix, m),
      cls,
      nominalMs: m.nominalMs,
      durationMs: Math.max(50, Math.round(m.nominalMs * timeFactor)),
    };
  });
}

function progressLogs(progress: PoolModel['progress']): string[] | undefined {
  if (progress === 'steps')
    return ['Loading weights', ...Array.from({ length: 50 }, (_, k) => `step ${k}/50`)];
  if (progress === 'tqdm')
    return Array.from({ length: 100 }, (_, k) => {
      const bar = '█'.repeat(Math.floor(k / 10)).padEnd(10);
      return `${String(k).padStart(3)}%|${bar}| ${k}/100 [00:00<00:00,  1.00it/s]`;
    });
  return undefined; // the simulator's default lines (a 4-step bar: too coarse to extrapolate from)
}

/** The simulator's script of a pool model: 5 % of its time `starting`, the rest running; echoes the input. */
export function poolScript(m: PoolModel, timeFactor: number): ModelScript {
  const total = Math.max(50, Math.round(m.nominalMs * timeFactor));
  const startDelayMs = Math.round(total * 0.05);
  const logs = progressLogs(m.progress);
  return {
    output: '$input',
    startDelayMs,
    durationMs: total - startDelayMs,
    durationJitter: m.jitter,
    ...(m.cold ? { coldStart: { rate: COLD_RATE, delayMs: Math.round(COLD_DELAY_MS * timeFactor) } } : {}),
    ...(logs ? { logs } : {}),
  };
}

export function registerPool(env: BenchEnv, prefix: string, timeFactor: number): void {
  for (const m of ALL_MODELS) env.sim.setModel(modelRef(prefix, m), poolScript(m, timeFactor));
}
