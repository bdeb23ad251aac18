/** Per-model concurrency, the pure part: keys, REPLICATE_MODEL_CONCURRENCY, the limiter's bookkeeping. */
import { describe, expect, it } from 'vitest';
import { slotNeededFor } from '../../src/activities/slots';
import { ConfigError, readModelConcurrency } from '../../src/config';
import {
  EXACT_POSITIONS,
  enqueue,
  leave,
  nextUpdates,
  parseModelConcurrency,
  queuedLine,
  slotKey,
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

  it('the create answers slotNeeded only for a model the worker limits', () => {
    const limits = { 'google/imagen-4-ultra': 4, 'deployments/acme/sdxl': 2 };
    expect(slotNeededFor(limits, `google/imagen-4-ultra:${VERSION}`, false)).toEqual({
      slotNeeded: { key: 'google/imagen-4-ultra', limit: 4 },
    });
    expect(slotNeededFor(limits, 'acme/sdxl', true)).toEqual({
      slotNeeded: { key: 'deployments/acme/sdxl', limit: 2 },
    });
    expect(slotNeededFor(limits, 'acme/sdxl', false)).toBeNull(); // the model, not the deployment
    expect(slotNeededFor(undefined, 'google/imagen-4-ultra', false)).toBeNull();
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
  ])('%s is a ConfigError naming the variable and the fix', (raw, problem) => {
    const read = () => readModelConcurrency({ REPLICATE_MODEL_CONCURRENCY: raw });
    expect(read).toThrow(ConfigError);
    expect(read).toThrow(`REPLICATE_MODEL_CONCURRENCY: ${problem}`);
    if (!problem.includes('twice')) expect(read).toThrow('e.g. REPLICATE_MODEL_CONCURRENCY="');
  });
});

describe("the limiter's bookkeeping", () => {
  const fresh = (limit: number): SlotsState => ({ key: 'a/b', limit, holders: [], queue: [] });
  const ask = (s: SlotsState, id: string, startedAt: number) =>
    enqueue(s, { workflowId: id, startedAt, limit: s.limit });

  it('grants in start order, whatever the arrival order; a repeated request changes nothing', () => {
    const s = fresh(2);
    ask(s, 'w3', 3);
    ask(s, 'w1', 1);
    ask(s, 'w2', 2);
    ask(s, 'w1', 1);
    ask(s, 'w4', 4);
    const updates = nextUpdates(s, 0);
    expect(updates).toEqual([
      { workflowId: 'w1', update: { key: 'a/b', position: 0, limit: 2 } },
      { workflowId: 'w2', update: { key: 'a/b', position: 0, limit: 2 } },
      { workflowId: 'w3', update: { key: 'a/b', position: 1, limit: 2 } },
      { workflowId: 'w4', update: { key: 'a/b', position: 2, limit: 2 } },
    ]);
    expect(nextUpdates(s, 0)).toEqual([]); // nothing changed: nothing to tell
    ask(s, 'w2', 2); // a holder asking again (a retried activity) is not queued twice
    expect(s.queue.map((w) => w.workflowId)).toEqual(['w3', 'w4']);
  });

  it('a release frees the slot for the head; leaving the queue frees nothing', () => {
    const s = fresh(1);
    ask(s, 'a', 1);
    ask(s, 'b', 2);
    ask(s, 'c', 3);
    nextUpdates(s, 0);
    expect(leave(s, 'c')).toBe(false); // a waiter leaves: nobody gets a slot
    expect(nextUpdates(s, 0)).toEqual([]);
    expect(leave(s, 'a')).toBe(true);
    expect(nextUpdates(s, 5)).toEqual([{ workflowId: 'b', update: { key: 'a/b', position: 0, limit: 1 } }]);
    expect(s.holders).toEqual([{ workflowId: 'b', since: 5 }]);
    expect(leave(s, 'nobody')).toBe(false);
  });

  it('the latest request sets the limit; a raised limit grants at once', () => {
    const s = fresh(1);
    ask(s, 'a', 1);
    ask(s, 'b', 2);
    nextUpdates(s, 0);
    enqueue(s, { workflowId: 'c', startedAt: 3, limit: 3 });
    expect(
      nextUpdates(s, 0)
        .filter((u) => u.update.position === 0)
        .map((u) => u.workflowId),
    ).toEqual(['b', 'c']);
  });

  it('position updates stay bounded: exact near the head, further back only when halved', () => {
    const s = fresh(1);
    const n = 100;
    for (let i = 0; i < n; i++) ask(s, `w${i}`, i);
    let signals = nextUpdates(s, 0).length;
    for (let i = 0; i < n - 1; i++) {
      leave(s, s.holders[0]!.workflowId);
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
