// Faults, admin routes, waiters and webhook delivery, on a real clock; a create committed late.
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import { ReplicateSimulator, defaultVersionFor } from '../../simulator';
import type { Prediction } from '../../simulator';
import { TOKEN, call, created, hookReceiver } from './helpers';
import type { Arrival } from './helpers';

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
