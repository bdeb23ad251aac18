/**
 * Step kinds and what the pipeline shows of them: the registry, the approval kind's validation, the result cache's
 * key (canonical input, fan-out index), and the Temporal UI's current details.
 */
import { describe, expect, it } from 'vitest';
import { cacheKey } from '../../src/activities/outputs';
import { kindOf, STEP_KINDS, validatePipelineSpec, type PipelineSpec } from '../../src/shared/pipeline';
import { pipelineDetails } from '../../src/workflows/steps/details';
import { emptyReport } from '../../src/workflows/steps/report';

const spec = (steps: Record<string, unknown>, more: Record<string, unknown> = {}): PipelineSpec => {
  const checked = validatePipelineSpec({ name: 'p', steps, ...more });
  if ('errors' in checked) throw new Error(JSON.stringify(checked.errors));
  return checked.spec;
};

describe('step kinds', () => {
  it('a step is an approval when it says approve, else a prediction; every kind has a name and fields', () => {
    expect(STEP_KINDS.map((k) => k.name)).toEqual(['approve', 'prediction']);
    expect(kindOf({ approve: { message: 'x' } }).name).toBe('approve');
    expect(kindOf({ model: 'acme/m' }).name).toBe('prediction');
    const s = spec({ a: { model: 'acme/m' }, ok: { approve: { message: 'go?' }, needs: ['a'] } });
    expect(s.steps.ok).toEqual({
      input: {},
      approve: { message: 'go?', timeout: '24h', onTimeout: 'reject' },
      needs: ['a'],
    });
    // a validated spec validates again (the client validates, then the workflow)
    expect('spec' in validatePipelineSpec(s)).toBe(true);
  });

  it('an approval step has no price and no model: a budget does not ask for one', () => {
    const s = spec(
      { a: { model: 'acme/m' }, ok: { approve: { message: 'go?' }, needs: ['a'] } },
      { budget: { usd: 1 }, prices: { 'acme/m': 0.01 } },
    );
    expect(kindOf(s.steps.ok!).models(s.steps.ok!)).toEqual([]);
    expect(kindOf(s.steps.ok!).cost(s, s.steps.ok!, 10)).toBe(0);
    expect(kindOf(s.steps.a!).cost(s, s.steps.a!, 10)).toBeCloseTo(0.1);
  });
});

describe('the result cache key', () => {
  const base = { model: 'acme/m', input: { prompt: 'x', n: 1 }, index: 0 };
  it('is the same for the same request in any key order, and differs by model, input and fan-out index', () => {
    expect(cacheKey(base)).toMatch(/^[0-9a-f]{64}$/);
    expect(cacheKey({ ...base, input: { n: 1.0, prompt: 'x' } })).toBe(cacheKey(base));
    expect(cacheKey({ ...base, index: 1 })).not.toBe(cacheKey(base));
    expect(cacheKey({ ...base, model: `acme/m:${'a'.repeat(64)}` })).not.toBe(cacheKey(base));
    expect(cacheKey({ ...base, input: { prompt: 'y', n: 1 } })).not.toBe(cacheKey(base));
  });
});

describe("a pipeline's current details", () => {
  it('lists every step with its status, runs, time and cost; what waits, with the command; what was reused', () => {
    const s = spec(
      {
        draw: { model: 'acme/m', count: 2 },
        review: { approve: { message: 'pick one' }, needs: ['draw'] },
        up: { model: 'acme/up', needs: ['review'] },
      },
      { prices: { 'acme/m': 0.01 } },
    );
    const r = emptyReport('pipeline-p-1', s);
    Object.assign(r.steps.draw!, {
      status: 'succeeded',
      runs: 2,
      predictionIds: ['p1', 'p2'],
      elapsedMs: 12_000,
      predictTime: 8,
    });
    Object.assign(r.steps.review!, {
      status: 'waiting',
      startedAt: '2026-01-01T10:00:00.000Z',
      approval: {
        message: 'pick one',
        waitingSince: '2026-01-01T10:00:00.000Z',
        deadline: '2026-01-02T10:00:00.000Z',
        onTimeout: 'reject',
        decision: null,
      },
    });
    r.cost = { predictTime: { draw: 8 }, totalPredictTime: 8, estimatedUsd: 0.08 };
    expect(pipelineDetails(r, s, Date.parse('2026-01-01T10:05:00Z'))).toBe(
      [
        '**waiting for approval** · 1 of 3 steps done · 8s predict_time · ~$0.08',
        '',
        '- **draw**: succeeded · 2/2 predictions succeeded · 12s · 8s predict_time ~$0.08',
        '- **review**: waiting · since 10:00:00 UTC',
        '- **up**: pending',
        '',
        '**review waits for a decision** (until 2026-01-02T10:00:00.000Z, then reject): pick one',
        '',
        '`replicate-temporal pipeline approve pipeline-p-1 review [--reject] [--reason TEXT]`',
      ].join('\n'),
    );
    r.steps.draw!.reused = [
      { index: 0, how: 'cache', pipelineId: 'pipeline-p-0', step: 'draw', predictionId: 'p0' },
      { index: 1, how: 'cache', pipelineId: 'pipeline-p-0', step: 'draw', predictionId: 'p9' },
    ];
    r.steps.draw!.predictTime = 0;
    expect(pipelineDetails(r, s, 0)).toContain(
      '- **draw**: succeeded · 2/2 predictions succeeded · 12s · cached 2 from pipeline-p-0 ($0)',
    );
  });
});
