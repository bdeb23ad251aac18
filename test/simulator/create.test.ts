// The simulator's create routes, lifecycle and other routes, on an injected clock.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { defaultVersionFor, parseCancelAfter } from '../../simulator';
import { ISO_MICROS, PNG_MAGIC, TOKEN, call, clockedSimulator, created } from './helpers';

describe('ReplicateSimulator: create, lifecycle, routes (injected clock)', () => {
  const { sim, advance } = clockedSimulator({
    models: {
      'test/slow-start': { startDelayMs: 60_000, durationMs: 1000 },
      'test/long': { startDelayMs: 1000, durationMs: 600_000 },
    },
  });
  let base = '';
  beforeAll(async () => {
    base = await sim.start();
  });
  afterAll(() => sim.stop());

  it('answers a create with 201 and the sparse shape of real traffic', async () => {
    const r = await call(base, 'POST', '/predictions', {
      version: 'google/imagen-4-ultra',
      input: { prompt: 'a bear' },
    });
    expect(r.status).toBe(201);
    const p = created(r);
    expect(Object.keys(p).sort()).toEqual(
      ['created_at', 'error', 'id', 'input', 'logs', 'model', 'status', 'urls', 'version'].sort(),
    );
    expect(p.id).toMatch(/^[a-z0-9]{26}$/);
    expect(p).toMatchObject({
      model: 'google/imagen-4-ultra',
      version: defaultVersionFor('google/imagen-4-ultra'),
      input: { prompt: 'a bear' },
      logs: '',
      error: null,
      status: 'starting',
    });
    expect(p.created_at).toMatch(ISO_MICROS);
    expect(p.urls).toEqual({
      get: `${base}/predictions/${p.id}`,
      cancel: `${base}/predictions/${p.id}/cancel`,
      web: `https://replicate.com/p/${p.id}`,
    });
    expect(sim.predictionIds()).toContain(p.id);
  });

  it('moves starting -> processing -> succeeded with the clock; output is a downloadable PNG', async () => {
    const p = created(
      await call(base, 'POST', '/models/google/imagen-4-ultra/predictions', { input: { prompt: 'x' } }),
    );
    const get = async () => created(await call(base, 'GET', `/predictions/${p.id}`));

    const starting = await get();
    expect(starting.status).toBe('starting');
    expect(starting).not.toHaveProperty('started_at');
    expect(starting.source).toBe('api');

    advance(300 + 750); // half way through the 1500 ms run
    const running = await get();
    expect(running.status).toBe('processing');
    expect(running.started_at).toMatch(ISO_MICROS);
    for (const key of ['output', 'metrics', 'completed_at', 'data_removed'])
      expect(running).not.toHaveProperty(key);
    const partialLines = running.logs!.split('\n').filter(Boolean).length;
    expect(partialLines).toBeGreaterThan(0);

    advance(750);
    const done = await get();
    expect(done.status).toBe('succeeded');
    expect(done.logs!.split('\n').filter(Boolean).length).toBeGreaterThan(partialLines);
    expect(done.data_removed).toBe(false);
    expect(done.completed_at).toMatch(ISO_MICROS);
    expect(done.metrics).toEqual({ predict_time: 1.5, total_time: 1.8 });
    expect(done.output).toBe(`${sim.origin}/files/${p.id}/out-0.png`);

    const file = await fetch(done.output as string); // no Authorization, like replicate.delivery
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('image/png');
    const bytes = new Uint8Array(await file.arrayBuffer());
    expect([...bytes.slice(0, 8)]).toEqual(PNG_MAGIC);
    expect(sim.counters(p.id).gets).toBe(3);
  });

  it('gives stability-ai/sdxl two distinct files and fails sim/fail with an error and a traceback', async () => {
    const sdxl = created(
      await call(base, 'POST', '/predictions', { version: 'stability-ai/sdxl', input: {} }),
    );
    const fail = created(await call(base, 'POST', '/predictions', { version: 'sim/fail', input: {} }));
    advance(2000);
    const outputs = sim.prediction(sdxl.id)!.output as string[];
    expect(outputs).toHaveLength(2);
    const [a, b] = await Promise.all(
      outputs.map(async (u) => Buffer.from(await (await fetch(u)).arrayBuffer())),
    );
    expect(a!.equals(b!)).toBe(false);
    const failed = sim.prediction(fail.id)!;
    expect(failed).toMatchObject({ status: 'failed', error: 'CUDA out of memory', output: null });
    expect(failed.logs!.trimEnd().split('\n').pop()).toMatch(/OutOfMemoryError/);
  });

  it('accepts owner/name:version and a bare version id, and rejects unknown versions with 422', async () => {
    const version = defaultVersionFor('nightmareai/real-esrgan');
    const withName = await call(base, 'POST', '/predictions', {
      version: `nightmareai/real-esrgan:${version}`,
      input: { image: 'https://example.com/a.png' },
    });
    expect(withName.status).toBe(201);
    expect(created(withName)).toMatchObject({ model: 'nightmareai/real-esrgan', version });
    const bare = await call(base, 'POST', '/predictions', { version, input: { image: 'x' } });
    expect(bare.status).toBe(201);
    expect(created(bare).model).toBe('nightmareai/real-esrgan');

    for (const bad of [
      '0'.repeat(64),
      `nightmareai/real-esrgan:${'a'.repeat(64)}`,
      'nobody/nothing',
      'garbage',
    ]) {
      const r = await call(base, 'POST', '/predictions', { version: bad, input: {} });
      expect(r.status).toBe(422);
      expect(r.json.title).toBe('Invalid version or not permitted');
    }
  });

  it('creates through a deployment (prediction carries deployment) and 404s unknown deployments', async () => {
    const r = await call(base, 'POST', '/deployments/acme/imagen-prod/predictions', {
      input: { prompt: 'p' },
    });
    expect(r.status).toBe(201);
    expect(created(r)).toMatchObject({ model: 'google/imagen-4-ultra', deployment: 'acme/imagen-prod' });

    const missing = await call(base, 'POST', '/deployments/acme/nope/predictions', {
      input: { prompt: 'p' },
    });
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ detail: 'The requested resource could not be found.', status: 404 });
    expect((await call(base, 'POST', '/models/nobody/nothing/predictions', { input: {} })).status).toBe(404);
  });

  it('answers 401 problem+json without a token and with a wrong one, and never records the token', async () => {
    for (const headers of [{ authorization: '' }, { authorization: 'Bearer wrong' }]) {
      const r = await call(base, 'GET', '/predictions', undefined, headers);
      expect(r.status).toBe(401);
      expect(r.headers.get('content-type')).toBe('application/problem+json');
      expect(r.json).toMatchObject({
        title: 'Unauthenticated',
        detail: 'You did not pass a valid authentication token',
        status: 401,
      });
    }
    const authorised = sim.requests.filter((q) => q.headers.authorization?.startsWith('Bearer'));
    expect(authorised.length).toBeGreaterThan(0);
    expect(authorised.every((q) => q.headers.authorization === 'Bearer ***')).toBe(true);
    expect(JSON.stringify(sim.requests)).not.toContain(TOKEN);
  });

  it('validates bodies with 422: missing required input, unknown keys, non-object input', async () => {
    const missing = await call(base, 'POST', '/predictions', { version: 'google/imagen-4-ultra', input: {} });
    expect(missing.status).toBe(422);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
    expect(missing.json).toEqual({
      title: 'Input validation failed',
      detail: '- input: prompt is required\n',
      status: 422,
      invalid_fields: [{ type: 'required', field: 'input', description: 'prompt is required' }],
    });

    const extra = await call(base, 'POST', '/predictions', { version: 'sim/echo', input: {}, foo: 1 });
    expect(extra.status).toBe(422);
    expect(String(extra.json.detail)).toContain('Additional property foo is not allowed');

    const versionOnModelRoute = await call(base, 'POST', '/models/sim/echo/predictions', {
      version: 'x',
      input: {},
    });
    expect(versionOnModelRoute.status).toBe(422);
    expect(String(versionOnModelRoute.json.detail)).toContain('Additional property version is not allowed');

    for (const input of [undefined, 'text', [1]]) {
      const r = await call(base, 'POST', '/predictions', { version: 'sim/echo', input });
      expect(r.status).toBe(422);
      expect(r.json.invalid_fields).toEqual([
        expect.objectContaining({ field: input === undefined ? '(root)' : 'input' }),
      ]);
    }
    expect(sim.creates()).toBe(sim.predictionIds().length);
  });

  it('Cancel-After: sets deadline; aborted while still starting, with no predict_time', async () => {
    const r = await call(
      base,
      'POST',
      '/predictions',
      { version: 'test/slow-start', input: {} },
      { 'cancel-after': '5s' },
    );
    expect(r.status).toBe(201);
    const p = created(r);
    expect(Date.parse(p.deadline!) - Date.parse(p.created_at)).toBe(5000);
    advance(4999);
    expect(sim.prediction(p.id)!.status).toBe('starting');
    advance(1);
    const aborted = sim.prediction(p.id)!;
    expect(aborted.status).toBe('aborted');
    expect(aborted).not.toHaveProperty('started_at');
    expect(aborted.metrics).toEqual({ total_time: 5 });
    expect(aborted.output).toBeNull();
  });

  it('Cancel-After: canceled when the deadline hits while processing; Go durations; < 5 s is 422', async () => {
    const p = created(
      await call(base, 'POST', '/predictions', { version: 'test/long', input: {} }, { 'cancel-after': '1m' }),
    );
    advance(30_000);
    expect(sim.prediction(p.id)!.status).toBe('processing');
    advance(30_000);
    const canceled = sim.prediction(p.id)!;
    expect(canceled).toMatchObject({ status: 'canceled', metrics: { predict_time: 59, total_time: 60 } });

    const long = created(
      await call(
        base,
        'POST',
        '/predictions',
        { version: 'test/long', input: {} },
        { 'cancel-after': '1h30m45s' },
      ),
    );
    expect(Date.parse(long.deadline!) - Date.parse(long.created_at)).toBe((90 * 60 + 45) * 1000);

    for (const bad of ['4', '4s', '4999ms', 'soon', '']) {
      const r = await call(
        base,
        'POST',
        '/predictions',
        { version: 'sim/echo', input: {} },
        { 'cancel-after': bad },
      );
      expect(r.status, `Cancel-After: ${bad}`).toBe(422);
      expect(String(r.json.detail)).toContain('Cancel-After');
    }
  });

  it('parses Cancel-After values like the API (bare seconds and Go-style durations)', () => {
    expect(parseCancelAfter('30')).toBe(30_000);
    expect(parseCancelAfter('30s')).toBe(30_000);
    expect(parseCancelAfter('5m')).toBe(300_000);
    expect(parseCancelAfter('1.5s')).toBe(1500);
    expect(parseCancelAfter('2h30m')).toBe(9_000_000);
    expect(parseCancelAfter('500ms')).toBe(500);
    expect(parseCancelAfter('5 minutes')).toBeUndefined();
  });

  it('cancels a running prediction (200, canceled), leaves terminal ones unchanged, and counts calls', async () => {
    const p = created(await call(base, 'POST', '/predictions', { version: 'sim/never', input: {} }));
    advance(500);
    expect((await call(base, 'GET', `/predictions/${p.id}`)).json.status).toBe('processing');
    const first = await call(base, 'POST', `/predictions/${p.id}/cancel`);
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ id: p.id, status: 'canceled', metrics: { predict_time: 0.2 } });
    advance(1000);
    const again = await call(base, 'POST', `/predictions/${p.id}/cancel`);
    expect(again.status).toBe(200);
    expect(again.json.completed_at).toBe(first.json.completed_at);
    expect(sim.counters(p.id)).toEqual({ gets: 1, cancels: 2 });
    expect((await call(base, 'POST', '/predictions/doesnotexist0000000000000/cancel')).status).toBe(404);
    expect((await call(base, 'GET', '/predictions/doesnotexist0000000000000')).status).toBe(404);
  });

  it('removes data after outputTtlMs: data_removed, output null, files 404', async () => {
    const { sim: s, advance: adv } = clockedSimulator({ outputTtlMs: 1000 });
    const b = await s.start();
    try {
      const p = created(await call(b, 'POST', '/predictions', { version: 'sim/echo', input: { a: 1 } }));
      const q = created(await call(b, 'POST', '/predictions', { version: 'stability-ai/sdxl', input: {} }));
      adv(1300);
      const kept = s.prediction(q.id)!;
      expect(kept).toMatchObject({ status: 'succeeded', data_removed: false });
      expect(s.prediction(p.id)!.output).toEqual({ a: 1 }); // sim/echo returns its input
      const url = (kept.output as string[])[0]!;
      expect((await fetch(url)).status).toBe(200);
      adv(1000);
      const removed = s.prediction(q.id)!;
      expect(removed).toMatchObject({ status: 'succeeded', data_removed: true, output: null, input: {} });
      expect(removed).toHaveProperty('output', null);
      expect((await fetch(url)).status).toBe(404);
      expect((await fetch(`${s.origin}/files/${q.id}/out-9.png`)).status).toBe(404);
    } finally {
      await s.stop();
    }
  });
});
