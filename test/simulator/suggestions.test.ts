// An unknown model or deployment: Replicate's answer, plus the nearest name the simulator knows in `detail`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultVersionFor } from '../../simulator';
import { nearestName } from '../../simulator/suggest';
import { call, clockedSimulator } from './helpers';

const NOT_FOUND = 'The requested resource could not be found.';

describe('nearestName', () => {
  const known = ['google/imagen-4-ultra', 'stability-ai/sdxl', 'salesforce/blip', 'sim/echo'];
  it.each([
    ['google/imagen-4-utra', 'google/imagen-4-ultra'],
    ['Google/Imagen-4-Ultra', 'google/imagen-4-ultra'],
    ['google/imagen-4', 'google/imagen-4-ultra'],
    ['stabilityai/sdxl', 'stability-ai/sdxl'],
    ['salesforce/blip-2', 'salesforce/blip'],
  ])('%s -> %s', (typed, expected) => {
    expect(nearestName(typed, known)).toBe(expected);
  });
  it.each(['nobody/nothing', 'acme/nope', 'x/y'])('%s: nothing close enough', (typed) => {
    expect(nearestName(typed, known)).toBeUndefined();
  });
});

describe('404 for an unknown model or deployment names the nearest one', () => {
  const { sim } = clockedSimulator();
  let base = '';
  beforeAll(async () => {
    base = await sim.start();
  });
  afterAll(() => sim.stop());

  it('the model route, the deployment route and trainings: 404 with a suggestion', async () => {
    const byModel = await call(base, 'POST', '/models/google/imagen-4-utra/predictions', {
      input: { prompt: 'p' },
    });
    expect(byModel.status).toBe(404);
    expect(byModel.headers.get('content-type')).toBe('application/problem+json');
    expect(byModel.json).toEqual({
      detail: `${NOT_FOUND} Did you mean google/imagen-4-ultra?`,
      status: 404,
    });

    const byDeployment = await call(base, 'POST', '/deployments/acme/imagen-prd/predictions', {
      input: { prompt: 'p' },
    });
    expect(byDeployment.status).toBe(404);
    expect(byDeployment.json).toEqual({ detail: `${NOT_FOUND} Did you mean acme/imagen-prod?`, status: 404 });

    const version = defaultVersionFor('stability-ai/sdxl');
    const training = await call(base, 'POST', `/models/stability-ai/sdx/versions/${version}/trainings`, {
      destination: 'acme/tuned',
      input: {},
    });
    expect(training.status).toBe(404);
    expect(training.json.detail).toBe(`${NOT_FOUND} Did you mean stability-ai/sdxl?`);
    expect(sim.creates() + sim.trainingCreates()).toBe(0);
  });

  it('nothing close: the plain 404 body, unchanged', async () => {
    const r = await call(base, 'POST', '/models/nobody/nothing/predictions', { input: {} });
    expect(r.json).toEqual({ detail: NOT_FOUND, status: 404 });
  });

  it('owner/name:version on POST /predictions keeps its 422 and names the nearest model', async () => {
    const r = await call(base, 'POST', '/predictions', {
      version: `salesforce/blipp:${'a'.repeat(64)}`,
      input: {},
    });
    expect(r.status).toBe(422);
    expect(r.json.title).toBe('Invalid version or not permitted');
    expect(r.json.detail).toBe(
      "The specified version does not exist (or perhaps you don't have permission to use it?) Did you mean salesforce/blip?",
    );
    const bare = await call(base, 'POST', '/predictions', { version: 'salesforce/blipp', input: {} });
    expect(bare.json.detail).toMatch(/Did you mean salesforce\/blip\?$/);
    // a known model with an unknown version: no suggestion (the model is right)
    const known = await call(base, 'POST', '/predictions', {
      version: `salesforce/blip:${'a'.repeat(64)}`,
      input: {},
    });
    expect(known.json.detail).not.toContain('Did you mean');
  });
});
