/**
 * The reconciler's window of a run's create (): it ends when the create activity completed, read from the
 * first events of the run's history, so a job with the same model and input made later (by a script, the web UI)
 * is not taken for the run's, even when answers echo neither deadline nor webhook.
 */
import { msToTs } from '@temporalio/common/lib/time';
import type { temporal } from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import { createCompletedAtMs } from '../../src/activities/reconcile';

const T0 = Date.parse('2026-11-25T12:00:00Z');
type Event = temporal.api.history.v1.IHistoryEvent;
/** event ids are int64 (Long) in the protos; the function only compares them as strings */
const id = (n: number) => n as unknown as Event['eventId'];
const scheduled = (n: number, name: string, ms: number): Event => ({
  eventId: id(n),
  eventTime: msToTs(ms),
  activityTaskScheduledEventAttributes: { activityType: { name } },
});
const completed = (n: number, of: number, ms: number): Event => ({
  eventId: id(n),
  eventTime: msToTs(ms),
  activityTaskCompletedEventAttributes: { scheduledEventId: id(of) },
});

describe('createCompletedAtMs', () => {
  it('is when the create activity (prediction or training) completed', () => {
    expect(createCompletedAtMs([scheduled(5, 'createPrediction', T0), completed(7, 5, T0 + 1_500)])).toBe(
      T0 + 1_500,
    );
    expect(createCompletedAtMs([scheduled(5, 'createTraining', T0), completed(7, 5, T0 + 900)])).toBe(
      T0 + 900,
    );
  });

  it('ignores other activities, and is undefined while the create has not completed', () => {
    const events = [
      scheduled(5, 'acquireSlot', T0),
      completed(6, 5, T0 + 10),
      scheduled(8, 'createPrediction', T0 + 20),
    ];
    expect(createCompletedAtMs(events)).toBeUndefined();
    expect(createCompletedAtMs([...events, completed(9, 8, T0 + 2_000)])).toBe(T0 + 2_000);
  });
});
