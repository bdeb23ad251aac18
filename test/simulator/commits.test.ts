// Spend safety: which creates were committed, when, and which provably created nothing (createLog()).
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ReplicateSimulator, defaultVersionFor } from '../../simulator';
import type { Faults } from '../../simulator';
import { TOKEN, call, clockedSimulator, created } from './helpers';

const { sim, advance } = clockedSimulator({ models: { 'test/slow': { outcome: 'never' } } });
let base = '';
beforeAll(async () => {
  base = await sim.start();
});
afterAll(() => sim.stop());
beforeEach(() => sim.reset());

/** One create on each of the four create routes. */
const CREATES: [string, Record<string, unknown>][] = [
  ['/predictions', { version: 'test/slow', input: { route: 'version' } }],
  ['/models/test/slow/predictions', { input: { route: 'model' } }],
  ['/deployments/acme/slow/predictions', { input: { route: 'deployment' } }],
  [
    `/models/test/slow/versions/${defaultVersionFor('test/slow')}/trainings`,
    { destination: 'a/b', input: {} },
  ],
];

/** Sends a create without waiting for its answer; resolves with the status (0 for a reset connection). */
function send(path: string, body: unknown): Promise<number> {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  }).then(
    (r) => r.status,
    () => 0,
  );
}

describe('creates that provably store nothing', () => {
  it.each<[string, Faults]>([
    ['429 with Retry-After', { rateLimitNext: 4, rateLimitStyle: 'header' }],
    ['429 with retry_after in the body', { rateLimitNext: 4, rateLimitStyle: 'body' }],
    ['429 with the delay only in the text', { rateLimitNext: 4, rateLimitStyle: 'detail' }],
    ['a 429 storm (creates only)', { rateLimitUntilMs: Infinity, rateLimitRoutes: 'create' }],
  ])('%s, on every create route', async (_name, faults) => {
    sim.setDeployment('acme/slow', 'test/slow');
    sim.setFaults(faults);
    for (const [path, body] of CREATES) expect(await send(path, body), path).toBe(429);
    expect(sim.creates() + sim.trainingCreates()).toBe(0);
    const log = sim.createLog();
    expect(log).toHaveLength(4);
    for (const entry of log) {
      expect(entry).toMatchObject({ status: 429, committedAt: undefined, predictionId: undefined });
    }
  });

  it('resetBeforeStoreRate: every create route drops the connection, nothing is committed, ever', async () => {
    sim.setDeployment('acme/slow', 'test/slow');
    sim.setFaults({ resetBeforeStoreRate: 1, createCommitDelayMs: 50 });
    for (const [path, body] of CREATES) expect(await send(path, body), path).toBe(0);
    sim.setFaults({});
    // a later create commits, so any stray commit of the dropped ones would have happened by then
    expect(await send(CREATES[0]![0], CREATES[0]![1])).toBe(201);
    expect(sim.creates() + sim.trainingCreates()).toBe(1);
    expect(sim.createLog().map((e) => [e.status, e.committedAt === undefined])).toEqual([
      [0, true],
      [0, true],
      [0, true],
      [0, true],
      [201, false],
    ]);
  });
});

describe('lateCommitNext: only the next N creates are committed late', () => {
  it('the first create commits after createCommitDelayMs, the second at once; the log says when', async () => {
    sim.setFaults({ createCommitDelayMs: 1_000, lateCommitNext: 1 });
    const late = send('/models/test/slow/predictions', { input: { n: 'late' } });
    await expect.poll(() => sim.createLog().length).toBe(1); // the first is on the wire, not committed
    advance(38_000); // the simulator's clock moves on while the first create waits for its commit
    expect(await send('/models/test/slow/predictions', { input: { n: 'prompt' } })).toBe(201);
    expect(await late).toBe(201);

    const [first, second] = sim.createLog();
    expect(first!.committedAt! - first!.arrivedAt).toBe(38_000);
    expect(second!.committedAt).toBe(second!.arrivedAt);
    expect(sim.predictionIds()).toEqual([second!.predictionId, first!.predictionId]); // commit order
    expect(sim.prediction(first!.predictionId!)!.input).toEqual({ n: 'late' });

    // and the cancel that followed, on the same clock
    advance(20_000);
    await call(base, 'POST', `/predictions/${first!.predictionId!}/cancel`);
    const canceled = sim.createLog()[0]!;
    expect(canceled.canceledAt! - canceled.committedAt!).toBe(20_000);
    expect(sim.createLog()[1]!.canceledAt).toBeUndefined();
  });

  it('a create answered 429 is not counted: the next one that reaches the commit is the late one', async () => {
    sim.setFaults({ createCommitDelayMs: 200, lateCommitNext: 1, rateLimitNext: 1 });
    expect(await send('/models/test/slow/predictions', { input: { n: 1 } })).toBe(429);
    const sent = performance.now();
    const r = await call(base, 'POST', '/models/test/slow/predictions', { input: { n: 2 } });
    expect(r.status).toBe(201);
    expect(performance.now() - sent).toBeGreaterThanOrEqual(190);
    expect(created(r).input).toEqual({ n: 2 });
    const log = sim.createLog();
    expect(log.map((e) => e.status)).toEqual([429, 201]);
    expect(log[0]!.committedAt).toBeUndefined();
  });

  it('without lateCommitNext every create is late, as before', async () => {
    sim.setFaults({ createCommitDelayMs: 150 });
    for (let i = 0; i < 2; i++) {
      const sent = performance.now();
      expect((await call(base, 'POST', '/models/test/slow/predictions', { input: { i } })).status).toBe(201);
      expect(performance.now() - sent).toBeGreaterThanOrEqual(140);
    }
  });

  it('GET /_sim/state lists the create log too', async () => {
    expect(await send('/models/test/slow/predictions', { input: {} })).toBe(201);
    const state = (await (await fetch(`${sim.origin}/_sim/state`)).json()) as { createLog: unknown[] };
    expect(state.createLog).toEqual([
      expect.objectContaining({
        route: 'models.predictions.create',
        status: 201,
        predictionId: expect.any(String),
      }),
    ]);
  });
});

describe('createCommitDelayMs on the wall clock', () => {
  it('commits no earlier than the delay by Date.now, even when a timer fires early by it', async () => {
    // Node's timers run on a monotonic clock: by Date.now one may fire a millisecond early (CI saw 7,999 for an
    // 8,000 ms commit). A wall clock running at half speed makes that gap large and certain.
    const realNow = Date.now.bind(Date);
    const t0 = realNow();
    const spy = vi.spyOn(Date, 'now').mockImplementation(() => t0 + Math.floor((realNow() - t0) / 2));
    const wall = new ReplicateSimulator({ models: { 'test/slow': { outcome: 'never' } } });
    try {
      const origin = await wall.start();
      wall.setFaults({ createCommitDelayMs: 200 });
      expect((await call(origin, 'POST', '/models/test/slow/predictions', { input: {} })).status).toBe(201);
      const [entry] = wall.createLog();
      expect(entry!.committedAt! - entry!.arrivedAt).toBeGreaterThanOrEqual(200);
    } finally {
      await wall.stop();
      spy.mockRestore();
    }
  });
});
