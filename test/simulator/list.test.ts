// GET /predictions: filters, cursor pagination (§9), and the default page size at scale.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { Prediction } from '../../simulator';
import { ISO_MICROS, T0, call, clockedSimulator, created } from './helpers';

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
