/** Per-model concurrency, the pure part: keys, REPLICATE_MODEL_CONCURRENCY, the limiter's bookkeeping. */
import { describe, expect, it } from 'vitest';
import { slotNeededFor } from '../../src/activities/slots';
import { ConfigError, readModelConcurrency } from '../../src/config';
import {
  EXACT_POSITIONS,
  MAX_SLOTS_STATE_BYTES,
  SlotFailureType,
  acquireProblem,
  answer,
  enqueue,
  grant,
  leave,
  limitFor,
  nextUpdates,
  otherRuns,
  parseModelConcurrency,
  queuedLine,
  releaseProblem,
  slotKey,
  type SlotRef,
  type SlotRequest,
  type SlotsState,
} from '../../src/shared/slots';

const VERSION = 'a'.repeat(64);

describe('slot keys', () => {
  it('one key per model whatever the version, deployments apart, bare versions by id', () => {
    expect(slotKey('google/imagen-4-ultra')).toBe('google/imagen-4-ultra');
    expect(slotKey(`google/imagen-4-ultra:${VERSION}`)).toBe('google/imagen-4-ultra');
    expect(slotKey('acme/sdxl', true)).toBe('deployments/acme/sdxl');
    expect(slotKey(VERSION)).toBe(VERSION);
    expect(slotKey('not a model')).toBeNull();
  });

  it('the create answers slotNeeded for a model the worker limits, in every form, or for a request with its own limit', async () => {
    const limits = { 'google/imagen-4-ultra': 4, 'deployments/acme/sdxl': 2 };
    expect(await slotNeededFor(limits, `google/imagen-4-ultra:${VERSION}`, false)).toEqual({
      slotNeeded: { key: 'google/imagen-4-ultra', limit: 4 },
    });
    expect(await slotNeededFor(limits, 'acme/sdxl', true)).toEqual({
      slotNeeded: { key: 'deployments/acme/sdxl', limit: 2 },
    });
    expect(await slotNeededFor(limits, 'acme/sdxl', false)).toBeNull(); // the model, not the deployment
    expect(await slotNeededFor(undefined, 'google/imagen-4-ultra', false)).toBeNull();
    // a request's own limit: a slot under the model's key, without (or with) the operator's limit
    expect(await slotNeededFor(undefined, 'acme/other', false, 3)).toEqual({
      slotNeeded: { key: 'acme/other', limit: null },
    });
    expect(await slotNeededFor(limits, 'google/imagen-4-ultra', false, 10_000)).toEqual({
      slotNeeded: { key: 'google/imagen-4-ultra', limit: 4 },
    });
  });

  it("a bare version id is looked up among the limited models (deployments never), and counts as its model's", async () => {
    const limits = { 'google/imagen-4-ultra': 4, 'acme/other': 1, 'deployments/acme/sdxl': 2 };
    const asked: string[][] = [];
    const lookup = (version: string, models: string[]) => {
      asked.push(models);
      return Promise.resolve(version === VERSION ? 'acme/other' : null);
    };
    expect(await slotNeededFor(limits, VERSION, false, undefined, lookup)).toEqual({
      slotNeeded: { key: 'acme/other', limit: 1 },
    });
    expect(asked).toEqual([['google/imagen-4-ultra', 'acme/other']]);
    // a version of no limited model: not limited (its own limit still applies, under the version id)
    const other = 'b'.repeat(64);
    expect(await slotNeededFor(limits, other, false, undefined, lookup)).toBeNull();
    expect(await slotNeededFor(limits, other, false, 2, lookup)).toEqual({
      slotNeeded: { key: other, limit: null },
    });
    // nothing limited: nothing to look up
    expect(await slotNeededFor(undefined, VERSION, false, undefined, lookup)).toBeNull();
    expect(asked).toHaveLength(3);
  });
});

describe('REPLICATE_MODEL_CONCURRENCY', () => {
  it('parses models and deployments, spaces allowed', () => {
    expect(parseModelConcurrency(' google/imagen-4-ultra=4, deployments/acme/sdxl = 2 ,')).toEqual({
      'google/imagen-4-ultra': 4,
      'deployments/acme/sdxl': 2,
    });
    expect(readModelConcurrency({})).toEqual({});
    expect(readModelConcurrency({ REPLICATE_MODEL_CONCURRENCY: 'a/b=1' })).toEqual({
      modelConcurrency: { 'a/b': 1 },
    });
  });

  it.each([
    ['a/b', '"a/b" is not owner/name=N'],
    ['a/b=0', '"a/b=0" is not owner/name=N'],
    ['a/b=1.5', '"a/b=1.5" is not owner/name=N'],
    ['imagen=2', '"imagen=2" is not owner/name=N'],
    ['a/b=1,a/b=2', '"a/b" is listed twice'],
    [`${VERSION}=2`, `"${VERSION}=2" limits a version id; limit its model instead (owner/name=N)`],
  ])('%s is a ConfigError naming the variable and the fix', (raw, problem) => {
    const read = () => readModelConcurrency({ REPLICATE_MODEL_CONCURRENCY: raw });
    expect(read).toThrow(ConfigError);
    expect(read).toThrow(`REPLICATE_MODEL_CONCURRENCY: ${problem}`);
    if (!problem.includes('twice')) expect(read).toThrow('e.g. REPLICATE_MODEL_CONCURRENCY="');
  });
});

describe("the limiter's bookkeeping", () => {
  const fresh = (limit: number | null): SlotsState => ({ key: 'a/b', limit, holders: [], queue: [] });
  const run = (id: string, runId = `${id}-run`): SlotRef => ({ workflowId: id, runId });
  const ask = (s: SlotsState, id: string, startedAt: number, more: Partial<SlotRequest> = {}) =>
    enqueue(s, { ...run(id), startedAt, limit: s.limit, ...more });
  const granted = (updates: ReturnType<typeof nextUpdates>) =>
    updates.filter((u) => u.update.position === 0).map((u) => u.workflowId);
  /** the updates without their sequence numbers (checked on their own below) */
  const told = (updates: ReturnType<typeof nextUpdates>) =>
    updates.map(({ update: { seq: _seq, ...update }, ...ref }) => ({ ...ref, update }));

  it('grants in start order, whatever the arrival order; a repeated request changes nothing', () => {
    const s = fresh(2);
    ask(s, 'w3', 3);
    ask(s, 'w1', 1);
    ask(s, 'w2', 2);
    ask(s, 'w1', 1);
    ask(s, 'w4', 4);
    const updates = nextUpdates(s, 0);
    expect(updates.map((u) => u.update.seq)).toEqual([1, 2, 3, 4]);
    expect(told(updates)).toEqual([
      { ...run('w1'), update: { key: 'a/b', position: 0, limit: 2 } },
      { ...run('w2'), update: { key: 'a/b', position: 0, limit: 2 } },
      { ...run('w3'), update: { key: 'a/b', position: 1, limit: 2 } },
      { ...run('w4'), update: { key: 'a/b', position: 2, limit: 2 } },
    ]);
    expect(nextUpdates(s, 0)).toEqual([]); // nothing changed: nothing to tell
    ask(s, 'w2', 2); // a holder asking again (a retried activity) is not queued twice
    expect(s.queue.map((w) => w.workflowId)).toEqual(['w3', 'w4']);
    expect(answer(s, run('w2'))).toEqual({ position: 0, limit: 2, seq: 5 }); // and is answered: the slot is yours
  });

  it("the acquire's answer is the news: a run granted or placed by its answer gets no signal for it", () => {
    const s = fresh(1);
    ask(s, 'a', 1);
    grant(s, 0);
    expect(answer(s, run('a'))).toEqual({ position: 0, limit: 1, seq: 1 });
    ask(s, 'b', 2);
    grant(s, 0);
    expect(answer(s, run('b'))).toEqual({ position: 1, limit: 1, seq: 2 });
    expect(nextUpdates(s, 0)).toEqual([]);
  });

  it('a release frees the slot for the head; leaving the queue frees nothing', () => {
    const s = fresh(1);
    ask(s, 'a', 1);
    ask(s, 'b', 2);
    ask(s, 'c', 3);
    nextUpdates(s, 0);
    expect(leave(s, run('c'))).toBe(false); // a waiter leaves: nobody gets a slot
    expect(nextUpdates(s, 0)).toEqual([]);
    expect(leave(s, run('a'))).toBe(true);
    expect(told(nextUpdates(s, 5))).toEqual([{ ...run('b'), update: { key: 'a/b', position: 0, limit: 1 } }]);
    expect(s.holders).toEqual([{ ...run('b'), since: 5, told: true }]);
    expect(leave(s, run('nobody'))).toBe(false);
  });

  it('runs are told apart by run: another run of the same workflow id is not a repeat, and releases only its own', () => {
    const s = fresh(1);
    ask(s, 'w', 1, { runId: 'old' });
    grant(s, 0);
    const again = { workflowId: 'w', runId: 'new' };
    expect(otherRuns(s, again)).toEqual([{ workflowId: 'w', runId: 'old' }]);
    expect(releaseProblem(s, again)).toContain('neither holds a slot of a/b nor waits for one');
    expect(leave(s, again)).toBe(false);
    expect(releaseProblem(s, { workflowId: 'w', runId: 'old' })).toBeNull();
    // once the old run is known to be gone (the limiter asks Temporal), the new one queues and is granted
    leave(s, { workflowId: 'w', runId: 'old' });
    ask(s, 'w', 2, { runId: 'new' });
    expect(granted(nextUpdates(s, 0))).toEqual(['w']);
    expect(s.holders.map((h) => h.runId)).toEqual(['new']);
  });

  it("a worker's request sets the operator's limit; a raised limit grants at once; a request's own limit never changes it", () => {
    const s = fresh(1);
    ask(s, 'a', 1);
    ask(s, 'b', 2);
    nextUpdates(s, 0);
    enqueue(s, { ...run('c'), startedAt: 3, limit: 3 });
    expect(granted(nextUpdates(s, 0))).toEqual(['b', 'c']);
    enqueue(s, { ...run('d'), startedAt: 4, limit: null, ownLimit: 10_000 });
    enqueue(s, { ...run('e'), startedAt: 5, limit: null, ownLimit: 1 });
    expect(s.limit).toBe(3);
    expect(granted(nextUpdates(s, 0))).toEqual([]); // 3 of 3 held: 10,000 of its own lifts nothing
  });

  it("a request's own limit holds it back without holding back anyone behind it", () => {
    const s = fresh(3);
    ask(s, 'own1', 1, { ownLimit: 1 });
    ask(s, 'own2', 2, { ownLimit: 1 });
    ask(s, 'plain3', 3);
    ask(s, 'plain4', 4);
    // own2 waits for own1 (its group of 1); plain3 passes it; the operator's 3 holds for all
    expect(granted(nextUpdates(s, 0))).toEqual(['own1', 'plain3', 'plain4']);
    expect(s.queue.map((w) => w.workflowId)).toEqual(['own2']);
    expect(limitFor(s, 1)).toBe(1);
    leave(s, run('plain3'));
    expect(granted(nextUpdates(s, 0))).toEqual([]); // a free slot, but own2's group is full
    leave(s, run('own1'));
    expect(granted(nextUpdates(s, 0))).toEqual(['own2']);
  });

  it('own limits alone (no operator limit): each number is its own group', () => {
    const s = fresh(null);
    ask(s, 'two1', 1, { ownLimit: 2 });
    ask(s, 'two2', 2, { ownLimit: 2 });
    ask(s, 'two3', 3, { ownLimit: 2 });
    ask(s, 'one1', 4, { ownLimit: 1 });
    ask(s, 'one2', 5, { ownLimit: 1 });
    expect(granted(nextUpdates(s, 0))).toEqual(['two1', 'two2', 'one1']);
    expect(s.queue.map((w) => w.workflowId)).toEqual(['two3', 'one2']);
  });

  it('the validators: malformed requests, forged releases, and a state that would outgrow continue-as-new', () => {
    const s = fresh(1);
    ask(s, 'a', 1);
    grant(s, 0);
    const ok = { ...run('b'), startedAt: 2, limit: 1 };
    expect(acquireProblem(s, ok)).toBeNull();
    expect(acquireProblem(s, { ...ok, runId: '' })?.type).toBe(SlotFailureType.InvalidRequest);
    expect(acquireProblem(s, { ...ok, limit: 0 })?.message).toContain('limit:');
    expect(acquireProblem(s, { ...ok, limit: null })?.message).toContain('neither');
    expect(acquireProblem(s, { ...ok, limit: null, ownLimit: 10_001 })?.message).toContain('ownLimit:');
    expect(acquireProblem(s, 'x')?.type).toBe(SlotFailureType.InvalidRequest);
    expect(releaseProblem(s, { workflowId: 'a' })).toContain('names the workflowId and runId');
    expect(releaseProblem(s, { workflowId: 'a', runId: 'forged' })).toContain('neither holds');
    expect(releaseProblem(s, run('a'))).toBeNull();
    const big = fresh(1);
    for (
      let i = 0;
      acquireProblem(big, { ...run(`w${i}`.padEnd(900, 'x')), startedAt: i, limit: 1 }) === null;
      i++
    )
      ask(big, `w${i}`.padEnd(900, 'x'), i);
    const full = acquireProblem(big, { ...run('late'.padEnd(900, 'x')), startedAt: 1e9, limit: 1 });
    expect(full?.type).toBe(SlotFailureType.QueueFull);
    expect(JSON.stringify(big).length).toBeLessThanOrEqual(MAX_SLOTS_STATE_BYTES);
    // one already queued asking again is answered, never refused
    expect(acquireProblem(big, { ...run('w0'.padEnd(900, 'x')), startedAt: 0, limit: 1 })).toBeNull();
  });

  it('position updates stay bounded: exact near the head, further back only when halved', () => {
    const s = fresh(1);
    const n = 100;
    for (let i = 0; i < n; i++) ask(s, `w${i}`, i);
    let signals = nextUpdates(s, 0).length;
    for (let i = 0; i < n - 1; i++) {
      leave(s, s.holders[0]!);
      signals += nextUpdates(s, 0).length;
    }
    // every run: one first position, about log2 halvings, EXACT_POSITIONS exact ones, one grant
    expect(signals).toBeLessThan(n * (EXACT_POSITIONS + 8));
    expect(signals).toBeGreaterThanOrEqual(2 * n - 1);
  });

  it('reads as the status line', () => {
    expect(queuedLine({ key: 'a/b', position: 3, limit: 2 })).toBe('queued: position 3 for a/b (limit 2)');
    expect(queuedLine({ key: 'a/b', position: null, limit: 2 })).toBe(
      'queued: waiting for a slot for a/b (limit 2)',
    );
  });
});
