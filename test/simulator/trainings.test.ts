// Trainings: the prediction machinery under /v1/trainings, on an injected clock.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import { defaultVersionFor, isTraining } from '../../simulator';
import type { Prediction, TrainingOutput } from '../../simulator';
import { ISO_MICROS, call, clockedSimulator, created } from './helpers';

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

  it('ignores Cancel-After (undocumented for trainings), honours cancel; lists trainings apart from predictions', async () => {
    const a = created(
      await call(base, 'POST', trainPath(), { destination: 'acme/a', input: {} }, { 'cancel-after': '30s' }),
    );
    expect(a).not.toHaveProperty('deadline');
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
    expect(sim.prediction(a.id)).toMatchObject({ status: 'processing' }); // past its 30 s: Cancel-After ignored
    await call(base, 'POST', '/predictions', { version: 'sim/echo', input: {} });

    const list = await call(base, 'GET', '/trainings');
    expect(list.status).toBe(200);
    expect(list.json).toMatchObject({ next: null, previous: null });
    const results = list.json.results as Prediction[];
    expect(results.map((t) => t.id)).toEqual([b.id, a.id]);
    expect(results[0]).toMatchObject({ input: { n: 2 }, destination: 'acme/b' });
    expect(results[1]).not.toHaveProperty('deadline');
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
