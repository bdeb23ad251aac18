import { describe, expect, it } from 'vitest';
import { canonicalJson, chooseAdoption, type AdoptionCriteria } from '../../src/shared/adopt';
import type { Prediction } from '../../src/shared/types';

const T0 = Date.parse('2026-11-25T12:00:00Z');
const criteria: AdoptionCriteria = {
  target: { route: 'model', owner: 'google', name: 'imagen-4-ultra' },
  input: { prompt: 'a cat', seed: 1 },
  cancelAtMs: T0 + 600_000,
  firstAttemptMs: T0,
  nowMs: T0 + 40_000,
};
const p = (over: Partial<Prediction> = {}): Prediction => ({
  id: 'p1',
  status: 'processing',
  model: 'google/imagen-4-ultra',
  version: 'v',
  input: { seed: 1, prompt: 'a cat' },
  created_at: new Date(T0 + 500).toISOString(),
  deadline: new Date(T0 + 600_400).toISOString(),
  ...over,
});

describe('adoption rule', () => {
  it('adopts the one prediction with our model, input (any key order) and deadline', () => {
    expect(chooseAdoption([p()], criteria).adopt?.id).toBe('p1');
  });

  it.each([
    ['another model', { model: 'google/imagen-4' }],
    ['another input', { input: { prompt: 'a dog', seed: 1 } }],
    ['another deadline (another run)', { deadline: new Date(T0 + 620_000).toISOString() }],
    ['created before the window', { created_at: new Date(T0 - 61_000).toISOString() }],
  ])('does not adopt a prediction with %s', (_name, over) => {
    expect(chooseAdoption([p(over)], criteria).adopt).toBeUndefined();
  });

  it('adopts a finished prediction too: it is ours and already paid for', () => {
    expect(chooseAdoption([p({ status: 'succeeded' })], criteria).adopt?.id).toBe('p1');
  });

  it('adopts none when two runs are indistinguishable', () => {
    const { adopt, matches } = chooseAdoption([p(), p({ id: 'p2' })], criteria);
    expect(adopt).toBeUndefined();
    expect(matches.map((m) => m.id)).toEqual(['p1', 'p2']);
  });

  it('matches versions and deployments by their route', () => {
    const v = 'a'.repeat(64);
    const byVersion = { ...criteria, target: { route: 'version' as const, version: v, model: null } };
    expect(chooseAdoption([p({ version: v })], byVersion).adopt).toBeDefined();
    expect(chooseAdoption([p()], byVersion).adopt).toBeUndefined();
    const byDeployment = {
      ...criteria,
      target: { route: 'deployment' as const, owner: 'acme', name: 'prod' },
    };
    expect(chooseAdoption([p({ deployment: 'acme/prod' })], byDeployment).adopt).toBeDefined();
    expect(chooseAdoption([p({ deployment: 'acme/other' })], byDeployment).adopt).toBeUndefined();
  });

  it('canonical JSON ignores key order at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 1, e: 2 }], c: 2 } })).toBe(
      canonicalJson({ a: { c: 2, d: [1, { e: 2, f: 1 }] }, b: 1 }),
    );
  });
});
