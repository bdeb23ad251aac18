/** The workers' book of model timings (src/activities/timings.ts): what counts, under which keys, within bounds. */
import { describe, expect, it } from 'vitest';
import { TimingBook, timingKeys } from '../../src/activities/timings';
import type { Prediction } from '../../src/shared/types';

let n = 0;
/** A succeeded job of `model` that waited `queueMs` and ran `runMs`. */
function done(queueMs: number, runMs: number, extra: Partial<Prediction> = {}): Prediction {
  const created = Date.parse('2026-12-07T10:00:00Z') + 1_000 * n++;
  return {
    id: `p${n}`,
    model: 'acme/painter',
    version: 'a'.repeat(64),
    status: 'succeeded',
    created_at: new Date(created).toISOString(),
    started_at: new Date(created + queueMs).toISOString(),
    completed_at: new Date(created + queueMs + runMs).toISOString(),
    ...extra,
  };
}

describe('TimingBook', () => {
  it('knows a model from its third completion, as the create will see it', () => {
    const book = new TimingBook();
    book.record('prediction', done(1_000, 19_000));
    book.record('prediction', done(1_200, 20_000));
    expect(book.timingFor('prediction', { model: 'acme/painter', version: 'a'.repeat(64) })).toBeUndefined();
    book.record('prediction', done(800, 21_000));
    expect(book.timingFor('prediction', { model: 'acme/painter', version: 'a'.repeat(64) })).toEqual({
      samples: 3,
      runMs: { lo: 19_000, mid: 20_000, hi: 21_000 },
      queueMs: { lo: 800, mid: 1_000, hi: 1_200 },
    });
    // another version of the model falls back to the model's figures; a training of it knows nothing
    expect(book.timingFor('prediction', { model: 'acme/painter', version: 'b'.repeat(64) })?.samples).toBe(3);
    expect(book.timingFor('training', { model: 'acme/painter', version: 'a'.repeat(64) })).toBeUndefined();
  });

  it('counts a job once however often it is seen, and only succeeded jobs', () => {
    const book = new TimingBook();
    const job = done(0, 5_000);
    for (let i = 0; i < 5; i++) book.record('prediction', job);
    book.record('prediction', { ...done(0, 1), status: 'failed' });
    book.record('prediction', { ...done(0, 1), status: 'canceled' });
    book.record('prediction', { ...done(0, 1), status: 'processing', completed_at: null });
    expect(book.timingFor('prediction', { model: 'acme/painter' })).toBeUndefined();
  });

  it('prefers the deployment, then the version, then the model', () => {
    const book = new TimingBook();
    for (let i = 0; i < 3; i++) book.record('prediction', done(0, 50_000, { deployment: 'acme/fast' }));
    for (let i = 0; i < 3; i++) book.record('prediction', done(0, 10_000, { version: 'c'.repeat(64) }));
    const deployed = { model: 'acme/painter', version: 'c'.repeat(64), deployment: 'acme/fast' };
    expect(book.timingFor('prediction', deployed)?.runMs.mid).toBe(50_000);
    expect(book.timingFor('prediction', { ...deployed, deployment: undefined })?.runMs.mid).toBe(10_000);
    expect(timingKeys('prediction', { model: 'openai/gpt', version: 'hidden' })).toEqual([
      'prediction:openai/gpt',
    ]);
  });

  it('keeps the latest samples of each key and the keys used last', () => {
    const book = new TimingBook(4, 5);
    for (let i = 0; i < 5; i++) book.record('prediction', done(0, 1_000));
    for (let i = 0; i < 5; i++) book.record('prediction', done(0, 9_000));
    expect(book.timingFor('prediction', { model: 'acme/painter' })?.runMs).toEqual({
      lo: 9_000,
      mid: 9_000,
      hi: 9_000,
    });
    // each job counts under its version and its model: two keys per model here
    for (const model of ['a/one', 'a/two', 'a/three'])
      for (let i = 0; i < 3; i++) book.record('prediction', done(0, 1_000, { model }));
    expect(book.size).toBe(4);
    expect(book.timingFor('prediction', { model: 'acme/painter' })).toBeUndefined();
    expect(book.timingFor('prediction', { model: 'a/three' })?.samples).toBe(3);
  });
});
