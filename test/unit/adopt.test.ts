import { describe, expect, it } from 'vitest';
import {
  adoptionCreate,
  canonicalJson,
  chooseAdoption,
  matchBasis,
  type AdoptionCriteria,
} from '../../src/shared/adopt';
import type { Prediction } from '../../src/shared/types';

const T0 = Date.parse('2026-11-25T12:00:00Z');
const criteria: AdoptionCriteria = {
  target: { route: 'model', owner: 'google', name: 'imagen-4-ultra' },
  input: { prompt: 'a cat', seed: 1 },
  cancelAtMs: T0 + 600_000,
  firstAttemptMs: T0,
  nowMs: T0 + 40_000,
  attemptTimeoutMs: 30_000,
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
    ['an earlier deadline (another run)', { deadline: new Date(T0 + 590_000).toISOString() }],
    [
      'a deadline later than the attempt timeout explains (another run)',
      { deadline: new Date(T0 + 640_000).toISOString() },
    ],
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
    // ours among a prediction of another version: ours is adopted
    const ofOtherVersion = p({ id: 'other-version', version: 'b'.repeat(64) });
    expect(chooseAdoption([ofOtherVersion, p({ id: 'ours', version: v })], byVersion).adopt?.id).toBe('ours');
    expect(chooseAdoption([p()], byVersion).adopt).toBeUndefined();
    const byDeployment = {
      ...criteria,
      target: { route: 'deployment' as const, owner: 'acme', name: 'prod' },
    };
    const ofOtherDeployment = p({ id: 'other-deployment', deployment: 'acme/other' });
    expect(
      chooseAdoption([ofOtherDeployment, p({ id: 'ours', deployment: 'acme/prod' })], byDeployment).adopt?.id,
    ).toBe('ours');
    expect(chooseAdoption([p({ deployment: 'acme/other' })], byDeployment).adopt).toBeUndefined();
  });

  it('canonical JSON ignores key order at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 1, e: 2 }], c: 2 } })).toBe(
      canonicalJson({ a: { c: 2, d: [1, { e: 2, f: 1 }] }, b: 1 }),
    );
  });
});

describe('adoption after a late create (issue 9, A.2)', () => {
  // The server's deadline is our target plus the request's delay, and the delay is bounded by the attempt's
  // timeout: a create answered after our 30 s timeout carries a deadline up to 30 s (+ skew) after the target.
  const late = (ms: number) => p({ deadline: new Date(T0 + 600_000 + ms).toISOString() });

  it('adopts a prediction whose deadline is late by up to the attempt timeout plus the skew tolerance', () => {
    expect(chooseAdoption([late(7_000)], criteria).adopt?.id).toBe('p1');
    expect(chooseAdoption([late(29_000)], criteria).adopt?.id).toBe('p1');
    expect(chooseAdoption([late(34_000)], criteria).adopt?.id).toBe('p1');
  });

  it('widens only the late side, and only by the attempt timeout actually in force', () => {
    expect(chooseAdoption([late(36_000)], criteria).adopt).toBeUndefined();
    expect(chooseAdoption([late(-6_000)], criteria).adopt).toBeUndefined();
    const short = { ...criteria, attemptTimeoutMs: 2_000 };
    expect(chooseAdoption([late(6_500)], short).adopt?.id).toBe('p1');
    expect(chooseAdoption([late(7_500)], short).adopt).toBeUndefined();
  });

  const hook = (workflowId: string) =>
    `https://hooks.example.com/webhooks/replicate?workflow=${encodeURIComponent(workflowId)}`;
  const withHooks = { ...criteria, workflowId: 'run-1', webhook: hook('run-1') };

  it("a candidate's webhook URL alone decides: ours whatever its deadline, not ours whatever its deadline", () => {
    const ours = p({ webhook: hook('run-1'), deadline: new Date(T0 + 700_000).toISOString() });
    expect(chooseAdoption([ours], withHooks).adopt?.id).toBe('p1');
    // another base URL (a worker configured differently) naming the same run is still ours
    const moved = p({ webhook: 'https://other.example.com/webhooks/replicate?workflow=run-1' });
    expect(chooseAdoption([moved], withHooks).adopt?.id).toBe('p1');
    expect(chooseAdoption([moved], criteria).adopt).toBeUndefined(); // our run has no id to compare: not provable
    const theirs = p({ webhook: hook('run-2') });
    expect(chooseAdoption([theirs], withHooks).adopt).toBeUndefined();
    expect(
      chooseAdoption([p({ webhook: 'https://example.org/their-hook' })], criteria).adopt,
    ).toBeUndefined();
  });

  it('adopts one of several predictions its webhook proves are ours and returns the others to cancel', () => {
    const a = p({ id: 'a', webhook: hook('run-1'), created_at: new Date(T0 + 500).toISOString() });
    const b = p({ id: 'b', webhook: hook('run-1'), created_at: new Date(T0 + 9_000).toISOString() });
    const { adopt, extras } = chooseAdoption([b, a], withHooks);
    expect(adopt?.id).toBe('a');
    expect(extras.map((e) => e.id)).toEqual(['b']);
  });

  it('excludes candidates another open run owns; adopts none while still ambiguous', () => {
    const sibling = p({ id: 'sibling' });
    expect(chooseAdoption([p(), sibling], criteria).adopt).toBeUndefined();
    const owned = { ...criteria, ownedElsewhere: new Set(['sibling']) };
    const { adopt, extras } = chooseAdoption([p(), sibling], owned);
    expect(adopt?.id).toBe('p1');
    expect(extras).toEqual([]);
    const { adopt: none, matches } = chooseAdoption([p(), p({ id: 'p2' }), sibling], owned);
    expect(none).toBeUndefined();
    expect(matches.map((m) => m.id)).toEqual(['p1', 'p2']);
  });
});

describe('the fallback when answers echo neither deadline nor webhook (issue 14)', () => {
  const lean = (over: Partial<Prediction> = {}) => {
    const { deadline: _d, ...rest } = p(over);
    return rest;
  };
  const create = adoptionCreate(criteria);
  const facts = (x: Prediction) => ({ ...x, inputKey: canonicalJson(x.input ?? null) });

  it('names what matched: webhook, deadline, else model, input and window', () => {
    const own = { ...criteria, workflowId: 'wf-1' };
    expect(matchBasis(facts(p({ webhook: 'https://h.example/w?workflow=wf-1' })), adoptionCreate(own))).toBe(
      'webhook',
    );
    expect(matchBasis(facts(p()), create)).toBe('deadline');
    expect(matchBasis(facts(lean()), create)).toBe('input-and-window');
    expect(matchBasis(facts(lean({ input: { prompt: 'a dog', seed: 1 } })), create)).toBeNull();
    expect(matchBasis(facts(lean({ model: 'google/imagen-4' })), create)).toBeNull();
    expect(matchBasis(facts(lean({ created_at: new Date(T0 - 61_000).toISOString() })), create)).toBeNull();
    expect(matchBasis(facts(lean({ created_at: new Date(T0 + 101_000).toISOString() })), create)).toBeNull();
  });

  it('adopts a lone match on model, input and window; none of two it cannot tell apart', () => {
    expect(chooseAdoption([lean()], criteria).adopt?.id).toBe('p1');
    const both = chooseAdoption([lean(), lean({ id: 'p2' })], criteria);
    expect(both.adopt).toBeUndefined();
    expect(both.extras).toEqual([]); // nothing is canceled on the fallback alone
    const owned = chooseAdoption([lean(), lean({ id: 'p2' })], {
      ...criteria,
      ownedElsewhere: new Set(['p1']),
    });
    expect(owned.adopt?.id).toBe('p2');
  });

  it('never matches a job of another model, another input or outside the window, whatever it lacks', () => {
    const others = [
      lean({ id: 'm', model: 'someone/else' }),
      lean({ id: 'i', input: { prompt: 'a cat', seed: 2 } }),
      lean({ id: 'early', created_at: new Date(T0 - 120_000).toISOString() }),
    ];
    expect(chooseAdoption(others, criteria).matches).toEqual([]);
  });
});
