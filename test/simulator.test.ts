import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import { ReplicateSimulator, defaultVersionFor, isTraining, parseCancelAfter } from '../simulator/index';
import type { Prediction, TrainingOutput } from '../simulator/index';

const TOKEN = 'sim-token';
const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const ISO_MICROS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const T0 = Date.parse('2026-11-25T18:00:00Z');

interface Reply {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const res = await fetch(path.startsWith('http') ? path : `${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { text };
  }
  return { status: res.status, headers: res.headers, json };
}

/** A simulator with an injectable clock, so lifecycle tests advance time instead of sleeping. */
function clockedSimulator(extra: ConstructorParameters<typeof ReplicateSimulator>[0] = {}) {
  const clock = { t: T0 };
  const sim = new ReplicateSimulator({ now: () => clock.t, ...extra });
  return { sim, clock, advance: (ms: number) => (clock.t += ms) };
}

const created = (r: Reply) => r.json as unknown as Prediction;

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

describe('ReplicateSimulator: list pagination (§9)', () => {
  const { sim, advance } = clockedSimulator({ pageSize: 2 });
  let base = '';
  const ids: string[] = [];
  const createdAt: string[] = [];
  beforeAll(async () => {
    base = await sim.start();
    for (let i = 0; i < 5; i++) {
      const p = created(await call(base, 'POST', '/predictions', { version: 'sim/echo', input: { i } }));
      ids.push(p.id);
      createdAt.push(p.created_at);
      advance(1000);
    }
  });
  afterAll(() => sim.stop());

  it('pages newest first with absolute next/previous URLs, null at the ends', async () => {
    const seen: string[] = [];
    let url: string | null = `${base}/predictions`;
    let pages = 0;
    let lastPrevious: unknown = undefined;
    while (url) {
      const r = await call(base, 'GET', url);
      expect(r.status).toBe(200);
      const results = r.json.results as Prediction[];
      seen.push(...results.map((p) => p.id));
      if (pages === 0) expect(r.json.previous).toBeNull();
      if (r.json.next !== null)
        expect(String(r.json.next)).toMatch(new RegExp(`^${base}/predictions\\?cursor=`));
      lastPrevious = r.json.previous;
      url = r.json.next as string | null;
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
    expect(String(lastPrevious)).toMatch(new RegExp(`^${base}/predictions\\?cursor=`));
    const back = await call(base, 'GET', String(lastPrevious));
    expect((back.json.results as Prediction[]).map((p) => p.id)).toEqual([ids[2], ids[1]]);
  });

  it('filters by created_after (inclusive) and keeps the filter in next', async () => {
    const after = createdAt[2]!;
    const r = await call(base, 'GET', `/predictions?created_after=${encodeURIComponent(after)}`);
    expect((r.json.results as Prediction[]).map((p) => p.id)).toEqual([ids[4], ids[3]]);
    const next = new URL(String(r.json.next));
    expect(next.origin + next.pathname).toBe(`${base}/predictions`);
    expect(next.searchParams.get('created_after')).toBe(after);
    const page2 = await call(base, 'GET', next.toString());
    expect((page2.json.results as Prediction[]).map((p) => p.id)).toEqual([ids[2]]);
    expect(page2.json.next).toBeNull();

    const before = await call(
      base,
      'GET',
      `/predictions?created_before=${encodeURIComponent(createdAt[1]!)}`,
    );
    expect((before.json.results as Prediction[]).map((p) => p.id)).toEqual([ids[0]]);
    expect((await call(base, 'GET', '/predictions?created_after=yesterday')).status).toBe(400);
    expect((await call(base, 'GET', '/predictions?cursor=bogus')).status).toBe(404);
  });
});

interface Arrival {
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A tiny webhook receiver: records arrivals (time at request start), answers statusFor(arrival index). */
async function hookReceiver(statusFor: (n: number) => number = () => 204) {
  const arrivals: Arrival[] = [];
  const arrived = new EventEmitter();
  const server = createServer((req, res) => {
    const at = Date.now();
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const n = arrivals.length;
      arrivals.push({ at, headers: req.headers, body });
      res.writeHead(statusFor(n)).end();
      arrived.emit('arrival');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  /** Resolves with the first `count` arrivals once they are there. */
  const first = (count: number, timeoutMs = 10_000) =>
    new Promise<Arrival[]>((resolve, reject) => {
      const check = (): void => {
        if (arrivals.length < count) return;
        cleanup();
        resolve(arrivals.slice(0, count));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`only ${arrivals.length} of ${count} webhooks arrived`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        arrived.off('arrival', check);
      };
      arrived.on('arrival', check);
      check();
    });
  const close = () => new Promise((resolve) => server.close(resolve));
  return { url, arrivals, first, close };
}

describe('ReplicateSimulator: faults, admin, waitFor, webhooks (real clock)', () => {
  const sim = new ReplicateSimulator({
    seed: 42,
    models: { 'test/fast': { startDelayMs: 20, durationMs: 60, logs: ['a', 'b', 'c'] } },
    webhookRetryDelaysMs: [20, 20, 20],
  });
  let base = '';
  beforeAll(async () => {
    base = await sim.start();
  });
  afterAll(() => sim.stop());
  beforeEach(() => sim.reset());

  const createFast = (extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
    call(base, 'POST', '/predictions', { version: 'test/fast', input: {}, ...extra }, headers);

  it('sends ratelimit headers on every /v1 response, with a separate polling bucket', async () => {
    const c = await createFast();
    expect(c.headers.get('ratelimit-reset')).toBe('1');
    expect(Number(c.headers.get('ratelimit-remaining'))).toBeLessThan(600);
    const g = await call(base, 'GET', `/predictions/${created(c).id}`);
    expect(Number(g.headers.get('ratelimit-remaining'))).toBeGreaterThan(3000);
    const unauth = await call(base, 'GET', '/predictions', undefined, { authorization: '' });
    expect(unauth.headers.get('ratelimit-remaining')).not.toBeNull();
  });

  it('answers 429 in each style, then recovers', async () => {
    sim.setFaults({ rateLimitNext: 1, rateLimitStyle: 'header', rateLimitRetryAfterSeconds: 3 });
    const h = await call(base, 'GET', '/predictions');
    expect(h.status).toBe(429);
    expect(h.headers.get('retry-after')).toBe('3');
    expect(h.json).toEqual({
      detail: 'Request was throttled. Expected available in 3 seconds.',
      status: 429,
    });
    expect((await call(base, 'GET', '/predictions')).status).toBe(200);

    sim.setFaults({ rateLimitNext: 1, rateLimitStyle: 'body', rateLimitRetryAfterSeconds: 2 });
    const b = await call(base, 'GET', '/predictions');
    expect(b.status).toBe(429);
    expect(b.headers.get('retry-after')).toBeNull();
    expect(b.json).toMatchObject({ retry_after: 2, status: 429 });

    sim.setFaults({ rateLimitNext: 1, rateLimitStyle: 'detail' });
    const d = await call(base, 'GET', '/predictions');
    expect(d.status).toBe(429);
    expect(d.headers.get('retry-after')).toBeNull();
    expect(d.json).toEqual({ detail: 'Request was throttled. Expected available in 1 second.', status: 429 });

    sim.setFaults({ rateLimitNext: 2, rateLimitRoutes: 'create' });
    expect((await call(base, 'GET', '/predictions')).status).toBe(200);
    expect((await createFast()).status).toBe(429);
    expect((await createFast()).status).toBe(429);
    expect((await createFast()).status).toBe(201);
    expect(sim.creates()).toBe(1);
  });

  it('resetAfterStore: the client sees a network error, but the prediction exists and runs', async () => {
    sim.setFaults({ resetAfterStoreRate: 1 });
    await expect(createFast()).rejects.toThrow();
    expect(sim.creates()).toBe(1);
    const id = sim.predictionIds()[0]!;
    const done = await sim.waitFor(id, (p) => p.status === 'succeeded', { timeoutMs: 5000 });
    expect(done.output).toBe(`${sim.origin}/files/${id}/out-0.png`);
    expect(sim.requests.at(-1)).toMatchObject({ route: 'predictions.create', status: 0, predictionId: id });
  });

  it('resetBeforeStore: the client sees a network error and nothing was created', async () => {
    sim.setFaults({ resetBeforeStoreRate: 1 });
    await expect(createFast()).rejects.toThrow();
    expect(sim.creates()).toBe(0);
  });

  it('serverErrorRate answers 5xx without storing anything', async () => {
    sim.setFaults({ serverErrorRate: 1 });
    const statuses = new Set<number>();
    for (let i = 0; i < 12; i++) statuses.add((await createFast()).status);
    expect([...statuses].every((s) => [500, 502, 503].includes(s))).toBe(true);
    expect(statuses.size).toBeGreaterThan(1);
    expect(sim.creates()).toBe(0);
  });

  it('latencyMs delays /v1 responses', async () => {
    sim.setFaults({ latencyMs: 150 });
    const t = performance.now();
    expect((await call(base, 'GET', '/predictions')).status).toBe(200);
    expect(performance.now() - t).toBeGreaterThanOrEqual(140);
  });

  it('waitFor resolves from events, for one prediction or any, and times out', async () => {
    const anyCreated = sim.waitFor((p) => p.model === 'test/fast');
    const p = created(await createFast());
    expect((await anyCreated).id).toBe(p.id);
    const seen: string[] = [];
    const done = await sim.waitFor(
      (v) => {
        seen.push(v.status);
        return v.status === 'succeeded';
      },
      { id: p.id, timeoutMs: 5000 },
    );
    expect(done.metrics?.predict_time).toBeCloseTo(0.06, 1);
    expect(seen).toContain('processing');
    await expect(sim.waitFor((v) => v.status === 'failed', { id: p.id, timeoutMs: 50 })).rejects.toThrow(
      /timed out/,
    );
  });

  it('Prefer: wait holds the create until the prediction finishes', async () => {
    const r = await createFast({}, { prefer: 'wait=5' });
    expect(r.status).toBe(201);
    expect(r.headers.get('preference-applied')).toBe('wait=5');
    expect(r.json).toMatchObject({ status: 'succeeded', output: expect.stringContaining('/files/') });
  });

  it('serves urls.stream as server-sent events ending with done, when stream is requested', async () => {
    expect(created(await createFast()).urls).not.toHaveProperty('stream');
    const p = created(await createFast({ stream: true }));
    expect(p.urls.stream).toBe(`${sim.origin}/stream/${p.id}`);
    const res = await fetch(p.urls.stream!, { headers: { accept: 'text/event-stream' } });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const text = await res.text();
    expect(text).toContain(`event: output\n`);
    expect(text).toContain(`/files/${p.id}/out-0.png`);
    expect(text.endsWith('event: done\ndata: {}\n\n')).toBe(true);
  });

  it('reports version "hidden" for official-style models created by model name', async () => {
    sim.setModel('official/model', { durationMs: 10, hiddenVersion: true });
    const viaModel = created(await call(base, 'POST', '/models/official/model/predictions', { input: {} }));
    expect(viaModel.version).toBe('hidden');
    const viaId = await call(base, 'POST', '/predictions', {
      version: `official/model:${defaultVersionFor('official/model')}`,
      input: {},
    });
    expect(created(viaId).version).toBe(defaultVersionFor('official/model'));
  });

  it('admin endpoints drive and expose the simulator over HTTP', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${sim.origin}${path}`, { method: 'POST', body: JSON.stringify(body) });
    expect((await post('/_sim/models', { ref: 'admin/model', script: { durationMs: 10 } })).status).toBe(200);
    const p = created(await call(base, 'POST', '/models/admin/model/predictions', { input: {} }));
    await call(base, 'GET', `/predictions/${p.id}`);
    const state = (await (await fetch(`${sim.origin}/_sim/state`)).json()) as Record<string, unknown>;
    expect(state).toMatchObject({
      creates: 1,
      predictions: [{ id: p.id, status: 'starting', model: 'admin/model', gets: 1, cancels: 0 }],
    });
    expect(state.requests).toBeGreaterThanOrEqual(3);

    expect((await post('/_sim/faults', { rateLimitNext: 1 })).status).toBe(200);
    expect((await call(base, 'GET', '/predictions')).status).toBe(429);
    expect((await post('/_sim/reset', {})).status).toBe(200);
    expect(sim.creates()).toBe(0);
    expect((await call(base, 'GET', '/predictions')).status).toBe(200);
  });

  it('delivers signed webhooks; only the terminal one is retried', async () => {
    const received: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
    let failNext = 0;
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(failNext-- > 0 ? 500 : 204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook?token=abc`;
      failNext = 1; // the first delivery (start) fails: never retried
      const p = created(await createFast({ webhook: hook, webhook_events_filter: ['start', 'completed'] }));
      expect(p).toMatchObject({ webhook: hook, webhook_events_filter: ['start', 'completed'] });
      await sim.waitFor(p.id, (v) => v.status === 'succeeded');
      await new Promise<void>((resolve) => {
        const check = () =>
          sim.webhookDeliveries.some((d) => d.event === 'completed') ? resolve() : setTimeout(check, 10);
        check();
      });
      const starts = sim.webhookDeliveries.filter((d) => d.event === 'start');
      expect(starts).toHaveLength(1);
      expect(starts[0]!.responseStatus).toBe(500);

      // Now the terminal delivery: fail it twice and expect retries with the same webhook-id.
      received.length = 0;
      failNext = 2;
      const q = created(await createFast({ webhook: hook, webhook_events_filter: ['completed'] }));
      await sim.waitFor(q.id, (v) => v.status === 'succeeded');
      const deadline = Date.now() + 3000;
      while (received.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(received).toHaveLength(3);
      const ids = new Set(received.map((r) => r.headers['webhook-id']));
      expect(ids.size).toBe(1);
      const last = received[2]!;
      const body = JSON.parse(last.body) as Prediction;
      expect(body).toMatchObject({ id: q.id, status: 'succeeded' });
      const secret = sim.webhookSigningSecret;
      const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
      const signed = `${String(last.headers['webhook-id'])}.${String(last.headers['webhook-timestamp'])}.${last.body}`;
      const expected = `v1,${createHmac('sha256', key).update(signed).digest('base64')}`;
      expect(last.headers['webhook-signature']).toBe(expected);
      const secretReply = await call(base, 'GET', '/webhooks/default/secret');
      expect(secretReply.json).toEqual({ key: secret });
    } finally {
      await new Promise((resolve) => receiver.close(resolve));
    }
  });

  it('webhookDelayMs: every delivery attempt, retries included, waits that long first', async () => {
    const hook = await hookReceiver((n) => (n === 0 ? 500 : 204)); // the first attempt fails: one retry
    try {
      sim.setFaults({ webhookDelayMs: 300 });
      const p = created(await createFast({ webhook: hook.url, webhook_events_filter: ['completed'] }));
      const done = await sim.waitFor(p.id, (v) => v.status === 'succeeded');
      const [first, retry] = (await hook.first(2)) as [Arrival, Arrival];
      const completedAt = Date.parse(done.completed_at ?? '');
      expect(first.at - completedAt).toBeGreaterThanOrEqual(295);
      expect(retry.at - first.at).toBeGreaterThanOrEqual(20 + 300 - 5); // retry delay + fault delay
      expect(retry.headers['webhook-id']).toBe(first.headers['webhook-id']);
      const recorded = await sim.waitForWebhook((d) => d.predictionId === p.id && d.attempt === 2);
      expect(recorded).toMatchObject({ event: 'completed', responseStatus: 204 });
      expect(sim.webhookDeliveries.map((d) => [d.attempt, d.responseStatus])).toEqual([
        [1, 500],
        [2, 204],
      ]);
    } finally {
      await hook.close();
    }
  });

  it('webhookReorder: start/logs/output arrive after completed, in their order, each signed', async () => {
    sim.setModel('test/paced', { startDelayMs: 20, durationMs: 400, logs: ['a', 'b', 'c', 'd'] });
    const hook = await hookReceiver();
    const all = ['start', 'output', 'logs', 'completed'];
    const eventsOf = (arrivals: Arrival[]) =>
      arrivals.map((a) => sim.webhookDeliveries.find((d) => d.webhookId === a.headers['webhook-id'])?.event);
    try {
      // Control, no fault: start first, completed last.
      const c = created(
        await call(base, 'POST', '/predictions', {
          version: 'test/paced',
          input: {},
          webhook: hook.url,
          webhook_events_filter: all,
        }),
      );
      await sim.waitForWebhook((d) => d.predictionId === c.id && d.event === 'completed');
      const control = eventsOf(hook.arrivals);
      expect(control[0]).toBe('start');
      expect(control.at(-1)).toBe('completed');

      hook.arrivals.length = 0;
      sim.setFaults({ webhookReorder: true });
      const p = created(
        await call(base, 'POST', '/predictions', {
          version: 'test/paced',
          input: {},
          webhook: hook.url,
          webhook_events_filter: all,
        }),
      );
      await sim.waitFor(p.id, (v) => v.status === 'succeeded');
      // Held events go out one by one after completed; output was handed over last, so it arrives last.
      await sim.waitForWebhook((d) => d.predictionId === p.id && d.event === 'output');
      const events = eventsOf(hook.arrivals);
      expect(events[0]).toBe('completed');
      expect(events[1]).toBe('start');
      expect(events.at(-1)).toBe('output');
      expect(events.slice(2, -1).every((e) => e === 'logs')).toBe(true);
      expect(events.filter((e) => e === 'logs').length).toBeGreaterThanOrEqual(1);
      const times = hook.arrivals.map((a) => a.at);
      expect(times).toEqual([...times].sort((x, y) => x - y));
      // completed carries the final state; every delivery is signed and has its own webhook-id.
      expect((JSON.parse(hook.arrivals[0]?.body ?? '{}') as Prediction).status).toBe('succeeded');
      const key = Buffer.from(sim.webhookSigningSecret.slice('whsec_'.length), 'base64');
      for (const a of hook.arrivals) {
        const signed = `${String(a.headers['webhook-id'])}.${String(a.headers['webhook-timestamp'])}.${a.body}`;
        expect(a.headers['webhook-signature']).toBe(
          `v1,${createHmac('sha256', key).update(signed).digest('base64')}`,
        );
      }
      expect(new Set(hook.arrivals.map((a) => a.headers['webhook-id'])).size).toBe(hook.arrivals.length);
    } finally {
      await hook.close();
    }
  });

  it('answers unknown routes with 404 and wrong methods with 405', async () => {
    expect((await call(base, 'GET', '/nothing-here')).status).toBe(404);
    expect((await call(base, 'DELETE', '/predictions')).status).toBe(405);
    expect((await fetch(`${sim.origin}/elsewhere`)).status).toBe(404);
  });
});

describe('ReplicateSimulator: trainings (injected clock)', () => {
  const { sim, advance } = clockedSimulator({
    models: { 'test/trainable': { startDelayMs: 1000, durationMs: 2000, trainingDurationMs: 60_000 } },
  });
  let base = '';
  const version = defaultVersionFor('test/trainable');
  const trainPath = (ref = 'test/trainable', v = version) => `/models/${ref}/versions/${v}/trainings`;
  beforeAll(async () => {
    base = await sim.start();
  });
  afterAll(() => sim.stop());
  beforeEach(() => sim.reset());

  it('creates a training: 201, sparse shape plus destination, /v1/trainings urls, counted apart', async () => {
    const r = await call(base, 'POST', trainPath(), {
      destination: 'acme/tuned',
      input: { train_data: 'https://example.com/data.zip' },
    });
    expect(r.status).toBe(201);
    const t = created(r);
    expect(Object.keys(t).sort()).toEqual(
      [
        'created_at',
        'destination',
        'error',
        'id',
        'input',
        'logs',
        'model',
        'status',
        'urls',
        'version',
      ].sort(),
    );
    expect(t.id).toMatch(/^[a-z0-9]{26}$/);
    expect(t).toMatchObject({
      model: 'test/trainable',
      version,
      destination: 'acme/tuned',
      input: { train_data: 'https://example.com/data.zip' },
      logs: '',
      error: null,
      status: 'starting',
    });
    expect(t.created_at).toMatch(ISO_MICROS);
    expect(t.urls).toEqual({
      get: `${base}/trainings/${t.id}`,
      cancel: `${base}/trainings/${t.id}/cancel`,
      web: `https://replicate.com/p/${t.id}`,
    });
    expect(isTraining(t)).toBe(true);
    expect(sim.trainingCreates()).toBe(1);
    expect(sim.creates()).toBe(0);
    expect(sim.trainingIds()).toEqual([t.id]);
    expect(sim.predictionIds()).toEqual([]);
    expect(sim.requests.at(-1)).toMatchObject({ route: 'trainings.create', status: 201, predictionId: t.id });

    // The two kinds do not mix: a training id is 404 on /predictions/{id}, and vice versa.
    expect((await call(base, 'GET', `/predictions/${t.id}`)).status).toBe(404);
    const p = created(await call(base, 'POST', '/predictions', { version: 'sim/echo', input: {} }));
    expect(isTraining(p)).toBe(false);
    expect((await call(base, 'GET', `/trainings/${p.id}`)).status).toBe(404);
    expect((await call(base, 'POST', `/trainings/${p.id}/cancel`)).status).toBe(404);
    expect(sim.training(p.id)).toBeUndefined();
    expect(sim.training(t.id)?.destination).toBe('acme/tuned');
  });

  it('runs the model timeline with trainingDurationMs; output {version, weights}; weights.tar is served', async () => {
    const t = created(await call(base, 'POST', trainPath(), { destination: 'acme/tuned', input: {} }));
    const p = created(await call(base, 'POST', '/models/test/trainable/predictions', { input: {} }));
    const get = async () => created(await call(base, 'GET', `/trainings/${t.id}`));
    expect((await get()).status).toBe('starting');
    advance(3000); // the prediction (durationMs 2000) is done; the training (60 s) is still running
    expect(sim.prediction(p.id)!.status).toBe('succeeded');
    const running = await get();
    expect(running.status).toBe('processing');
    expect(running).not.toHaveProperty('output');
    advance(58_000);
    const done = await get();
    expect(done).toMatchObject({ status: 'succeeded', destination: 'acme/tuned', data_removed: false });
    expect(done.metrics).toEqual({ predict_time: 60, total_time: 61 });
    const output = done.output as TrainingOutput;
    expect(Object.keys(output).sort()).toEqual(['version', 'weights']);
    expect(output.version).toMatch(/^acme\/tuned:[0-9a-f]{64}$/);
    expect(output.weights).toBe(`${sim.origin}/files/${t.id}/weights.tar`);
    expect(sim.counters(t.id)).toEqual({ gets: 3, cancels: 0 });
    expect(sim.prediction(t.id)).toEqual(done); // prediction(id) works for training ids too
    expect(sim.requests.filter((q) => q.route === 'trainings.get')).toHaveLength(3);

    const file = await fetch(output.weights); // no auth, like replicate.delivery
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('application/x-tar');
    const bytes = Buffer.from(await file.arrayBuffer());
    expect(bytes.length % 512).toBe(0);
    expect(bytes.subarray(257, 262).toString('ascii')).toBe('ustar');
    expect((await fetch(`${sim.origin}/files/${t.id}/out-0.png`)).status).toBe(404);
  });

  it('validates the body with 422 (unknown keys, destination) and the model/version like predictions', async () => {
    const expect422 = async (body: unknown, re: RegExp) => {
      const r = await call(base, 'POST', trainPath(), body);
      expect(r.status, JSON.stringify(body)).toBe(422);
      expect(r.headers.get('content-type')).toBe('application/problem+json');
      expect(String(r.json.detail)).toMatch(re);
    };
    await expect422({ destination: 'acme/tuned', input: {}, version: 'x' }, /Additional property version/);
    await expect422({ destination: 'acme/tuned', input: {}, stream: true }, /Additional property stream/);
    await expect422({ input: {} }, /destination is required/);
    await expect422({ destination: 'no-slash', input: {} }, /destination/);
    await expect422({ destination: 'a/b/c', input: {} }, /destination/);
    await expect422({ destination: 42, input: {} }, /destination/);
    await expect422({ destination: 'acme/tuned' }, /input is required/);

    const unknownModel = await call(base, 'POST', trainPath('nobody/nothing'), {
      destination: 'acme/tuned',
      input: {},
    });
    expect(unknownModel.status).toBe(404);
    expect(unknownModel.json).toEqual({ detail: 'The requested resource could not be found.', status: 404 });
    const badVersion = await call(base, 'POST', trainPath('test/trainable', 'a'.repeat(64)), {
      destination: 'acme/tuned',
      input: {},
    });
    expect(badVersion.status).toBe(422);
    expect(badVersion.json.title).toBe('Invalid version or not permitted');
    expect((await call(base, 'GET', trainPath())).status).toBe(405);
    expect(sim.trainingCreates()).toBe(0);
  });

  it('honours Cancel-After and cancel; lists trainings apart from predictions with the same pagination', async () => {
    const a = created(
      await call(base, 'POST', trainPath(), { destination: 'acme/a', input: {} }, { 'cancel-after': '30s' }),
    );
    expect(Date.parse(a.deadline!) - Date.parse(a.created_at)).toBe(30_000);
    advance(10);
    const b = created(await call(base, 'POST', trainPath(), { destination: 'acme/b', input: { n: 2 } }));
    advance(5000);
    const canceled = await call(base, 'POST', `/trainings/${b.id}/cancel`);
    expect(canceled.status).toBe(200);
    expect(canceled.json).toMatchObject({
      id: b.id,
      status: 'canceled',
      destination: 'acme/b',
      output: null,
    });
    expect(sim.counters(b.id)).toEqual({ gets: 0, cancels: 1 });
    advance(25_000);
    expect(sim.prediction(a.id)).toMatchObject({ status: 'canceled', metrics: { predict_time: 29 } });
    await call(base, 'POST', '/predictions', { version: 'sim/echo', input: {} });

    const list = await call(base, 'GET', '/trainings');
    expect(list.status).toBe(200);
    expect(list.json).toMatchObject({ next: null, previous: null });
    const results = list.json.results as Prediction[];
    expect(results.map((t) => t.id)).toEqual([b.id, a.id]);
    expect(results[0]).toMatchObject({ input: { n: 2 }, destination: 'acme/b' });
    expect(results[1]!.deadline).toBe(a.deadline);
    const after = await call(base, 'GET', `/trainings?created_after=${encodeURIComponent(b.created_at)}`);
    expect((after.json.results as Prediction[]).map((t) => t.id)).toEqual([b.id]);
    const predictions = (await call(base, 'GET', '/predictions')).json.results as Prediction[];
    expect(predictions).toHaveLength(1);
    expect(predictions.some(isTraining)).toBe(false);
    expect(sim.requests.map((q) => q.route)).toEqual(
      expect.arrayContaining(['trainings.create', 'trainings.cancel', 'trainings.list', 'predictions.list']),
    );
  });

  it('waitFor sees trainings; isTraining tells them apart', async () => {
    const anyTraining = sim.waitFor((p) => isTraining(p) && p.status === 'processing', { timeoutMs: 2000 });
    created(await call(base, 'POST', '/predictions', { version: 'test/trainable', input: {} }));
    const t = created(await call(base, 'POST', trainPath(), { destination: 'acme/w', input: {} }));
    advance(1500);
    sim.tick();
    const seen = await anyTraining;
    expect(seen).toMatchObject({ id: t.id, destination: 'acme/w', status: 'processing' });
    const byId = await sim.waitFor(t.id, (p) => p.status === 'processing', { timeoutMs: 100 });
    expect(byId.urls.get).toBe(`${base}/trainings/${t.id}`);
  });

  it('sends webhooks for trainings (the training JSON, with destination)', async () => {
    const bodies: Prediction[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        bodies.push(JSON.parse(body) as Prediction);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const t = created(
        await call(base, 'POST', trainPath(), {
          destination: 'acme/hooked',
          input: {},
          webhook: hook,
          webhook_events_filter: ['start', 'completed'],
        }),
      );
      expect(t).toMatchObject({ webhook: hook, webhook_events_filter: ['start', 'completed'] });
      const received = async (n: number) => {
        const deadline = Date.now() + 3000;
        while (bodies.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      };
      advance(1500);
      sim.tick(); // start
      await received(1);
      advance(60_000);
      sim.tick(); // completed
      await received(2);
      expect(bodies.map((b) => b.status)).toEqual(['processing', 'succeeded']);
      expect(bodies[1]).toMatchObject({ id: t.id, destination: 'acme/hooked' });
      expect((bodies[1]!.output as TrainingOutput).version).toMatch(/^acme\/hooked:/);
      // recorded once the receiver has answered, which can be after its handler ran
      await sim.waitForWebhook((d) => d.event === 'completed', { timeoutMs: 3000 });
      expect(sim.webhookDeliveries.map((d) => [d.predictionId, d.event])).toEqual([
        [t.id, 'start'],
        [t.id, 'completed'],
      ]);
    } finally {
      await new Promise((resolve) => receiver.close(resolve));
    }
  });
});

describe('ReplicateSimulator: scripted rejections and body limits', () => {
  const { sim, advance } = clockedSimulator({ maxBodyBytes: 2048 });
  let base = '';
  beforeAll(async () => {
    base = await sim.start();
  });
  afterAll(() => sim.stop());
  beforeEach(() => sim.reset());

  it('sim/billing answers 402 Billing required on every create route, storing nothing', async () => {
    sim.setDeployment('acme/billing-prod', 'sim/billing');
    const version = defaultVersionFor('sim/billing');
    const attempts: [string, unknown][] = [
      ['/predictions', { version: 'sim/billing', input: {} }],
      ['/models/sim/billing/predictions', { input: {} }],
      ['/deployments/acme/billing-prod/predictions', { input: {} }],
      [`/models/sim/billing/versions/${version}/trainings`, { destination: 'acme/x', input: {} }],
    ];
    for (const [path, body] of attempts) {
      const r = await call(base, 'POST', path, body);
      expect(r.status, path).toBe(402);
      expect(r.headers.get('content-type')).toBe('application/problem+json');
      expect(r.json).toEqual({
        title: 'Billing required',
        detail: 'You need to set up billing to run this model',
        status: 402,
      });
    }
    expect(sim.creates() + sim.trainingCreates()).toBe(0);
    expect(sim.requests.map((q) => q.route)).toEqual([
      'predictions.create',
      'models.predictions.create',
      'deployments.predictions.create',
      'trainings.create',
    ]);
    // Body validation still comes first: a malformed create is 422, not 402.
    expect((await call(base, 'POST', '/predictions', { version })).status).toBe(422);
  });

  it('sim/forbidden answers 403; other statuses get their defaults or the scripted title/detail', async () => {
    const forbidden = await call(base, 'POST', '/models/sim/forbidden/predictions', { input: {} });
    expect(forbidden.status).toBe(403);
    expect(forbidden.json).toMatchObject({ title: 'Forbidden', status: 403 });
    expect(typeof forbidden.json.detail).toBe('string');

    sim.setModel('test/too-big', { reject: { status: 413 } });
    sim.setModel('test/bad', { reject: { status: 400 } });
    sim.setModel('test/custom', { reject: { status: 402, title: 'Out of credit', detail: 'Top up' } });
    sim.setModel('test/teapot', { reject: { status: 418 } });
    const create = (ref: string) => call(base, 'POST', `/models/${ref}/predictions`, { input: {} });
    expect((await create('test/too-big')).json).toMatchObject({ title: 'Payload too large', status: 413 });
    expect((await create('test/bad')).json).toMatchObject({ title: 'Bad request', status: 400 });
    expect((await create('test/custom')).json).toEqual({
      title: 'Out of credit',
      detail: 'Top up',
      status: 402,
    });
    expect((await create('test/teapot')).json).toMatchObject({ title: "I'm a Teapot", status: 418 });
    expect(sim.creates()).toBe(0);
  });

  it("on: 'get' lets creates through and rejects GET/cancel; on: 'all' rejects both; looked up live", async () => {
    sim.setModel('test/revoked', { reject: { status: 403, on: 'get' } });
    const r = await call(base, 'POST', '/models/test/revoked/predictions', { input: {} });
    expect(r.status).toBe(201);
    const p = created(r);
    const get = await call(base, 'GET', `/predictions/${p.id}`);
    expect(get.status).toBe(403);
    expect(get.json).toMatchObject({ title: 'Forbidden', status: 403 });
    expect((await call(base, 'POST', `/predictions/${p.id}/cancel`)).status).toBe(403);
    expect(sim.counters(p.id)).toEqual({ gets: 1, cancels: 1 });
    expect(sim.prediction(p.id)!.status).toBe('starting'); // the cancel did not happen

    const t = created(
      await call(
        base,
        'POST',
        `/models/test/revoked/versions/${defaultVersionFor('test/revoked')}/trainings`,
        {
          destination: 'acme/r',
          input: {},
        },
      ),
    );
    expect((await call(base, 'GET', `/trainings/${t.id}`)).status).toBe(403);

    sim.setModel('test/blocked', { reject: { status: 402, on: 'all' } });
    expect((await call(base, 'POST', '/models/test/blocked/predictions', { input: {} })).status).toBe(402);

    // A rejection added after the create applies to later polls (e.g. billing lapses mid-run).
    sim.setModel('test/lapse', { durationMs: 10_000 });
    const q = created(await call(base, 'POST', '/models/test/lapse/predictions', { input: {} }));
    expect((await call(base, 'GET', `/predictions/${q.id}`)).status).toBe(200);
    sim.setModel('test/lapse', { durationMs: 10_000, reject: { status: 402, on: 'get' } });
    advance(100);
    expect((await call(base, 'GET', `/predictions/${q.id}`)).json).toMatchObject({
      title: 'Billing required',
      status: 402,
    });
  });

  it('maxBodyBytes: larger create bodies get 413 naming the limit, unparsed and unstored', async () => {
    const big = { version: 'sim/echo', input: { blob: 'x'.repeat(4096) } };
    const r = await call(base, 'POST', '/predictions', big);
    expect(r.status).toBe(413);
    expect(r.headers.get('content-type')).toBe('application/problem+json');
    expect(r.json).toMatchObject({ title: 'Payload too large', status: 413 });
    expect(String(r.json.detail)).toContain('2048');
    expect(sim.requests.at(-1)).toMatchObject({ route: 'predictions.create', status: 413 });
    expect(sim.requests.at(-1)).not.toHaveProperty('body');

    const version = defaultVersionFor('sim/echo');
    const training = await call(base, 'POST', `/models/sim/echo/versions/${version}/trainings`, {
      destination: 'acme/x',
      input: big.input,
    });
    expect(training.status).toBe(413);
    // A body that is not even JSON is not parsed either: still 413, not 400.
    const raw = await fetch(`${base}/predictions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: '{'.repeat(5000),
    });
    expect(raw.status).toBe(413);
    expect(sim.creates() + sim.trainingCreates()).toBe(0);
    expect(
      (await call(base, 'POST', '/predictions', { version: 'sim/echo', input: { small: 1 } })).status,
    ).toBe(201);
  });

  it('the default limit is 10 MB', async () => {
    const s = new ReplicateSimulator();
    const b = await s.start();
    try {
      const body = JSON.stringify({ version: 'sim/echo', input: { blob: 'x'.repeat(10 * 1024 * 1024) } });
      const r = await fetch(`${b}/predictions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body,
      });
      expect(r.status).toBe(413);
      expect(((await r.json()) as { detail: string }).detail).toContain(String(10 * 1024 * 1024));
      expect(s.creates()).toBe(0);
    } finally {
      await s.stop();
    }
  });
});

describe('ReplicateSimulator: list at scale (default page size 100)', () => {
  const { sim, advance } = clockedSimulator();
  let base = '';
  const ids: string[] = [];
  const createdAt: string[] = [];
  beforeAll(async () => {
    base = await sim.start();
    for (let i = 0; i < 250; i++) {
      const p = created(await call(base, 'POST', '/predictions', { version: 'sim/echo', input: { i } }));
      ids.push(p.id);
      createdAt.push(p.created_at);
      if (i % 3 === 0) advance(1); // many creates share a millisecond
    }
  });
  afterAll(() => sim.stop());

  const followAll = async (first: string) => {
    const seen: string[] = [];
    const sizes: number[] = [];
    let url: string | null = first;
    while (url) {
      const r = await call(base, 'GET', url);
      expect(r.status).toBe(200);
      const results = r.json.results as Prediction[];
      seen.push(...results.map((p) => p.id));
      sizes.push(results.length);
      if (r.json.next !== null) expect(String(r.json.next)).toMatch(new RegExp(`^${base}/predictions\\?`));
      url = r.json.next as string | null;
    }
    return { seen, sizes };
  };

  it('created_at strictly increases in creation order, even within one millisecond', () => {
    for (let i = 1; i < createdAt.length; i++) expect(createdAt[i]! > createdAt[i - 1]!, `#${i}`).toBe(true);
  });

  it('follows absolute next through 250 predictions: pages of 100, newest first, no gaps or duplicates', async () => {
    const { seen, sizes } = await followAll(`${base}/predictions`);
    expect(sizes).toEqual([100, 100, 50]);
    expect(new Set(seen).size).toBe(250);
    expect(seen).toEqual([...ids].reverse());
  });

  it('keeps created_after/created_before across pages and returns exactly the window', async () => {
    const q = new URLSearchParams({ created_after: createdAt[20]!, created_before: createdAt[240]! });
    const { seen, sizes } = await followAll(`${base}/predictions?${q.toString()}`);
    expect(sizes).toEqual([100, 100, 20]);
    expect(seen).toEqual(ids.slice(20, 240).reverse());
    const justAfter = await followAll(
      `${base}/predictions?created_after=${encodeURIComponent(createdAt[249]!)}`,
    );
    expect(justAfter.seen).toEqual([ids[249]]);
  });

  it('list items carry deadline and the full input, so a lost create can be matched', async () => {
    const input = { prompt: 'p', correlation: 'wf-123/attempt-2', nested: { a: [1, 2], b: null } };
    const start = new Date(T0 + 1000).toISOString();
    advance(1000);
    const p = created(
      await call(base, 'POST', '/predictions', { version: 'sim/never', input }, { 'cancel-after': '10m' }),
    );
    const r = await call(base, 'GET', `/predictions?created_after=${encodeURIComponent(start)}`);
    const results = r.json.results as Prediction[];
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ id: p.id, input, deadline: p.deadline, status: 'starting' });
    expect(results[0]!.deadline).toMatch(ISO_MICROS);
    ids.push(p.id);
  });
});

describe('simulator CLI (simulator/main.ts)', () => {
  it('prints one listening line and exits cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'simulator/main.ts'], {
      env: { ...process.env, SIM_PORT: '0', SIM_TOKEN: 'cli-token' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('\n')) resolve(out);
      });
      child.on('exit', (code) => reject(new Error(`exited early with ${code}`)));
    });
    const m =
      /^Replicate simulator listening on (http:\/\/127\.0\.0\.1:\d+\/v1) \(token: cli-token\)\n$/.exec(line);
    expect(m).not.toBeNull();
    const r = await fetch(`${m![1]!}/predictions`, { headers: { authorization: 'Bearer cli-token' } });
    expect(r.status).toBe(200);
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

describe('fault: createCommitDelayMs (a create committed late)', () => {
  const sim = new ReplicateSimulator({ faults: { createCommitDelayMs: 400 } });
  let base = '';
  beforeAll(async () => {
    await sim.start();
    base = sim.baseUrl;
  });
  afterAll(async () => {
    await sim.stop();
  });

  it('commits after the delay (created_at and deadline count from the commit), then answers', async () => {
    const sent = Date.now();
    const r = await call(
      base,
      'POST',
      '/models/sim/never/predictions',
      { input: {} },
      { 'cancel-after': '60s' },
    );
    expect(r.status).toBe(201);
    expect(Date.now() - sent).toBeGreaterThanOrEqual(400);
    const p = created(r);
    expect(Date.parse(p.created_at!)).toBeGreaterThanOrEqual(sent + 400);
    expect(Date.parse(p.deadline!) - Date.parse(p.created_at!)).toBeCloseTo(60_000, -1);
  });

  it('stores the prediction even when the client gave up before the commit', async () => {
    const before = sim.predictionIds().length;
    const sent = Date.now();
    await expect(
      fetch(`${base}/models/sim/never/predictions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TOKEN}`,
          'content-type': 'application/json',
          'cancel-after': '60s',
        },
        body: JSON.stringify({ input: { gaveUp: true } }),
        signal: AbortSignal.timeout(100),
      }),
    ).rejects.toThrow();
    expect(sim.predictionIds()).toHaveLength(before); // not committed yet
    const p = await sim.waitFor((v) => (v.input as { gaveUp?: boolean }).gaveUp === true, {
      timeoutMs: 5_000,
    });
    expect(sim.predictionIds()).toHaveLength(before + 1);
    expect(Date.parse(p.created_at!)).toBeGreaterThanOrEqual(sent + 400);
    expect(p.status).toBe('starting');
    const create = sim.requests.filter((q) => q.predictionId === p.id);
    expect(create.map((q) => q.route)).toEqual(['models.predictions.create']);
  });
});
