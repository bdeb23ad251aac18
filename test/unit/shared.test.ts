import { describe, expect, it } from 'vitest';
import { MIN_RUN_CEILING_MS, stepChildCeilingMs } from '../../src/shared/ceiling';
import { formatSeconds, humanDuration, parseDuration } from '../../src/shared/duration';
import { parseModelRef } from '../../src/shared/model-ref';
import { validateRequest } from '../../src/shared/validate';

const V = 'a'.repeat(64);

describe('parseModelRef', () => {
  it('maps each form to its create route', () => {
    expect(parseModelRef('google/imagen-4-ultra')).toEqual({
      route: 'model',
      owner: 'google',
      name: 'imagen-4-ultra',
    });
    expect(parseModelRef(`stability-ai/sdxl:${V}`)).toEqual({
      route: 'version',
      version: V,
      model: 'stability-ai/sdxl',
    });
    expect(parseModelRef(V)).toEqual({ route: 'version', version: V, model: null });
    expect(parseModelRef('acme/prod', true)).toEqual({ route: 'deployment', owner: 'acme', name: 'prod' });
  });
  it.each([
    ['', 'missing'],
    ['imagen', 'is not a model reference'],
    ['a/b/c', 'is not a model reference'],
    ['a/b:123', 'malformed version'],
    [`a/b:${V.toUpperCase()}`, 'malformed version'],
  ])('rejects %j (%s)', (ref, msg) => {
    const r = parseModelRef(ref);
    expect('error' in r && r.error).toContain(msg);
  });
  it('rejects a version on a deployment', () => {
    expect(parseModelRef(`acme/prod:${V}`, true)).toMatchObject({
      error: expect.stringContaining('no version'),
    });
  });
});

describe("stepChildCeilingMs: a pipeline step child's workflow execution timeout", () => {
  const ceiling = 1_000_000;
  it('the step timeout, cut to end 5 s before the pipeline ceiling', () => {
    expect(stepChildCeilingMs(600_000, ceiling, ceiling - 700_000)).toBe(600_000);
    expect(stepChildCeilingMs(600_000, ceiling, ceiling - 60_000)).toBe(55_000);
    expect(stepChildCeilingMs(600_000, ceiling, ceiling - 12_000)).toBe(7_000);
    expect(MIN_RUN_CEILING_MS).toBe(7_000); // MIN_RUN_MS (5 s) + the smallest deadline margin (2 s)
  });
  it.each([11_999, 6_000, 5_000, 1])(
    'null when the ceiling is %i ms away: less than a run needs, zero or negative (0 would mean no timeout)',
    (left) => {
      expect(stepChildCeilingMs(600_000, ceiling, ceiling - left)).toBeNull();
    },
  );
});

describe('durations', () => {
  it('parses units and combinations', () => {
    expect(parseDuration('10m')).toEqual({ ms: 600_000 });
    expect(parseDuration('1h30m45s')).toEqual({ ms: 5_445_000 });
    expect(parseDuration('250ms')).toEqual({ ms: 250 });
    expect(parseDuration('1.5s')).toEqual({ ms: 1500 });
  });
  it('rejects numbers without units and garbage, saying what to write', () => {
    expect(parseDuration('600')).toEqual({ error: expect.stringContaining('600s') });
    expect(parseDuration('ten minutes')).toEqual({ error: expect.stringContaining('e.g. 30s') });
    expect(parseDuration('-5m')).toEqual({ error: expect.stringContaining('not a duration') });
  });
  it('formats Cancel-After and human durations', () => {
    expect(formatSeconds(59_999)).toBe('59s');
    expect(humanDuration(4500)).toBe('4.5s');
    expect(humanDuration(125_000)).toBe('2m05s');
  });
});

describe('validateRequest', () => {
  it('accepts a minimal request', () => {
    expect(validateRequest({ model: 'google/imagen-4-ultra', input: { prompt: 'x' } })).toEqual([]);
  });
  it.each([
    [null, 'request: must be an object'],
    [{ input: {} }, 'model: missing'],
    [{ model: 'a/b', input: [] }, 'input: must be a JSON object'],
    [{ model: 'a/b', input: 'prompt' }, 'input: must be a JSON object'],
    [{ model: 'a/b' }, 'got nothing'],
    [{ model: 'a/b', input: { x: 'y'.repeat(1_000_001) } }, 'over the 1000000-byte limit'],
    [
      { model: 'a/b', input: {}, polling: { initialIntervalMs: -1 } },
      'polling.initialIntervalMs: must be a number from 100',
    ],
    [{ model: 'a/b', input: {}, polling: { multiplier: 0.5 } }, 'polling.multiplier'],
    [
      { model: 'a/b', input: {}, polling: { initialIntervalMs: 5000, maxIntervalMs: 1000 } },
      'at least polling.initialIntervalMs',
    ],
    [
      { model: 'a/b', input: {}, polling: { predictive: 'yes' } },
      'polling.predictive: must be true or false, got',
    ],
    [{ model: 'a/b', input: {}, deadlineMarginMs: Number.NaN }, 'deadlineMarginMs'],
    [{ model: 'a/b', input: {}, deployment: 'yes' }, 'deployment: must be true or false'],
  ])('names the field and the fix for %j', (request, message) => {
    expect(validateRequest(request).join('\n')).toContain(message);
  });
});
