import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  matchBasis,
  ownCandidates,
  ownCreateRecord,
  type OwnCreate,
} from '../../src/shared/adopt';
import type { Prediction } from '../../src/shared/types';

const T0 = Date.parse('2026-11-25T12:00:00Z');
/** a run whose first uncertain attempt was sent at T0, searching 40 s later */
const own: OwnCreate = {
  target: { route: 'model', owner: 'google', name: 'imagen-4-ultra' },
  input: { prompt: 'a cat', seed: 1 },
  cancelAtMs: T0 + 600_000,
  sinceMs: T0,
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
const ids = (list: Prediction[]) => list.map((x) => x.id);

describe('candidates for a lost attempt', () => {
  it('a prediction with our model, input (any key order) and deadline', () => {
    expect(ids(ownCandidates([p()], own))).toEqual(['p1']);
  });

  it.each([
    ['another model', { model: 'google/imagen-4' }],
    ['another input', { input: { prompt: 'a dog', seed: 1 } }],
    ['an earlier deadline (another run)', { deadline: new Date(T0 + 590_000).toISOString() }],
    ['a deadline later than a commit as late as now', { deadline: new Date(T0 + 646_000).toISOString() }],
    ['created before the window', { created_at: new Date(T0 - 61_000).toISOString() }],
  ])('never one with %s', (_name, over) => {
    expect(ownCandidates([p(over)], own)).toEqual([]);
  });

  it('every match, best first: succeeded (already paid for), then running, then other ends; older first', () => {
    const at = (s: number) => new Date(T0 + s * 1000).toISOString();
    const list = [
      p({ id: 'failed', status: 'failed', created_at: at(1) }),
      p({ id: 'late-running', created_at: at(9) }),
      p({ id: 'running', created_at: at(2) }),
      p({ id: 'done', status: 'succeeded', created_at: at(8) }),
    ];
    expect(ids(ownCandidates(list, own))).toEqual(['done', 'running', 'late-running', 'failed']);
  });

  it('two runs it cannot tell apart are both candidates: only a claim decides (src/workflows/claim.ts)', () => {
    expect(ids(ownCandidates([p(), p({ id: 'twin' })], own))).toEqual(['p1', 'twin']);
  });

  it('leaves out the jobs it is told to (its own, those claimed by others)', () => {
    expect(ids(ownCandidates([p(), p({ id: 'twin' })], own, new Set(['p1'])))).toEqual(['twin']);
  });

  it('matches versions and deployments by their route', () => {
    const v = 'a'.repeat(64);
    const byVersion = { ...own, target: { route: 'version' as const, version: v, model: null } };
    // ours among a prediction of another version: only ours is a candidate
    const ofOtherVersion = p({ id: 'other-version', version: 'b'.repeat(64) });
    expect(ids(ownCandidates([ofOtherVersion, p({ id: 'ours', version: v })], byVersion))).toEqual(['ours']);
    expect(ownCandidates([p()], byVersion)).toEqual([]);
    const byDeployment = { ...own, target: { route: 'deployment' as const, owner: 'acme', name: 'prod' } };
    const ofOtherDeployment = p({ id: 'other-deployment', deployment: 'acme/other' });
    expect(
      ids(ownCandidates([ofOtherDeployment, p({ id: 'ours', deployment: 'acme/prod' })], byDeployment)),
    ).toEqual(['ours']);
    expect(ownCandidates([p({ deployment: 'acme/other' })], byDeployment)).toEqual([]);
  });

  it('canonical JSON ignores key order at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 1, e: 2 }], c: 2 } })).toBe(
      canonicalJson({ a: { c: 2, d: [1, { e: 2, f: 1 }] }, b: 1 }),
    );
  });
});

describe('a create Replicate committed late', () => {
  // Replicate counts Cancel-After from its commit: a create committed late carries a deadline as late as the commit.
  const late = (ms: number) => p({ deadline: new Date(T0 + 600_000 + ms).toISOString() });

  it('matches a deadline late by up to the time since the attempt was sent, plus the skew tolerance', () => {
    expect(ids(ownCandidates([late(7_000)], own))).toEqual(['p1']);
    expect(ids(ownCandidates([late(38_000)], own))).toEqual(['p1']); // committed 38 s late: seen 40 s after
    expect(ids(ownCandidates([late(44_000)], own))).toEqual(['p1']);
  });

  it('widens only the late side, and only by the time that has passed', () => {
    expect(ownCandidates([late(46_000)], own)).toEqual([]);
    expect(ownCandidates([late(-6_000)], own)).toEqual([]);
    const later = { ...own, nowMs: T0 + 120_000 };
    expect(ids(ownCandidates([late(110_000)], later))).toEqual(['p1']);
  });

  const hook = (workflowId: string) =>
    `https://hooks.example.com/webhooks/replicate?workflow=${encodeURIComponent(workflowId)}`;
  const withHooks = { ...own, workflowId: 'run-1', webhook: hook('run-1') };

  it("a candidate's webhook URL alone decides: ours whatever its deadline, not ours whatever its deadline", () => {
    const ours = p({ webhook: hook('run-1'), deadline: new Date(T0 + 700_000).toISOString() });
    expect(ids(ownCandidates([ours], withHooks))).toEqual(['p1']);
    // another base URL (a worker configured differently) naming the same run is still ours
    const moved = p({ webhook: 'https://other.example.com/webhooks/replicate?workflow=run-1' });
    expect(ids(ownCandidates([moved], withHooks))).toEqual(['p1']);
    expect(ownCandidates([moved], own)).toEqual([]); // our run has no id to compare: not provable
    expect(ownCandidates([p({ webhook: hook('run-2') })], withHooks)).toEqual([]);
    expect(ownCandidates([p({ webhook: 'https://example.org/their-hook' })], own)).toEqual([]);
  });
});

describe('the fallback when answers echo neither deadline nor webhook', () => {
  const lean = (over: Partial<Prediction> = {}) => {
    const { deadline: _d, ...rest } = p(over);
    return rest;
  };
  const create = ownCreateRecord(own);
  const facts = (x: Prediction) => ({ ...x, inputKey: canonicalJson(x.input ?? null) });

  it('names what matched: webhook, deadline, else model, input and window', () => {
    const withId = ownCreateRecord({ ...own, workflowId: 'wf-1' });
    expect(matchBasis(facts(p({ webhook: 'https://h.example/w?workflow=wf-1' })), withId)).toBe('webhook');
    expect(matchBasis(facts(p()), create)).toBe('deadline');
    expect(matchBasis(facts(lean()), create)).toBe('input-and-window');
    expect(matchBasis(facts(lean({ input: { prompt: 'a dog', seed: 1 } })), create)).toBeNull();
    expect(matchBasis(facts(lean({ model: 'google/imagen-4' })), create)).toBeNull();
    expect(matchBasis(facts(lean({ created_at: new Date(T0 - 61_000).toISOString() })), create)).toBeNull();
    expect(matchBasis(facts(lean({ created_at: new Date(T0 + 101_000).toISOString() })), create)).toBeNull();
  });

  it('never matches a job of another model, another input or outside the window, whatever it lacks', () => {
    const others = [
      lean({ id: 'm', model: 'someone/else' }),
      lean({ id: 'i', input: { prompt: 'a cat', seed: 2 } }),
      lean({ id: 'early', created_at: new Date(T0 - 120_000).toISOString() }),
    ];
    expect(ownCandidates(others, own)).toEqual([]);
  });
});
