// Scripted rejections, body limits, and the `npm run simulator` entry point.
import { spawn } from 'node:child_process';
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import { ReplicateSimulator, defaultVersionFor } from '../../simulator';
import { TOKEN, call, clockedSimulator, created } from './helpers';

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
