// Fake activities for the workflow tests: a scripted Replicate that counts its calls (the samples' style).
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, type TemporalFailure } from '@temporalio/common';
import type { Activities } from '../../src/activities';
import type { PredictionSnapshot, PredictionStatus } from '../../src/shared/types';

export type FakeActivities = Pick<Activities, 'createPrediction' | 'getPrediction' | 'cancelPrediction'>;

/** A job snapshot as the activities return it. */
export function job(
  id: string,
  status: PredictionStatus,
  extra: Partial<PredictionSnapshot> = {},
): PredictionSnapshot {
  return {
    id,
    model: 'acme/model',
    version: null,
    status,
    output: status === 'succeeded' ? `https://replicate.delivery/${id}/out.png` : null,
    error: null,
    logsTail: [],
    metrics: status === 'succeeded' ? { predict_time: 2 } : {},
    createdAt: null,
    startedAt: null,
    completedAt: null,
    deadline: null,
    urls: {},
    ...extra,
  };
}

/** A promise the test resolves when it chooses (no sleeps). */
export function gate<T = void>(): { open: (value: T) => void; opened: Promise<T> } {
  let open!: (value: T) => void;
  const opened = new Promise<T>((resolve) => (open = resolve));
  return { open, opened };
}

export interface FakeOptions {
  /** what the create returns (default: job 'p-1' starting) */
  created?: PredictionSnapshot;
  /** the create waits for this before returning */
  holdCreate?: Promise<void>;
  /** the n-th GET's answer (1-based), or a thrown error; default: processing */
  get?: (n: number, id: string) => PredictionSnapshot;
  /** the cancel's answer (Replicate returns a job that already ended unchanged); default: canceled */
  cancel?: (id: string) => PredictionSnapshot;
}

/** A scripted Replicate: every call is counted; `createStarted` resolves when the create is on the wire. */
export function fakeReplicate(options: FakeOptions = {}) {
  const calls = {
    creates: 0,
    createArgs: [] as Parameters<FakeActivities['createPrediction']>[0][],
    gets: [] as string[],
    cancels: [] as string[],
  };
  const started = gate();
  const activities: FakeActivities = {
    async createPrediction(args) {
      calls.creates++;
      calls.createArgs.push(args);
      started.open();
      await options.holdCreate;
      return options.created ?? job('p-1', 'starting');
    },
    async getPrediction(id) {
      calls.gets.push(id);
      return options.get ? options.get(calls.gets.length, id) : job(id, 'processing');
    },
    async cancelPrediction(id) {
      calls.cancels.push(id);
      return options.cancel ? options.cancel(id) : job(id, 'canceled');
    },
  };
  return { calls, activities, createStarted: started.opened };
}

/** The ApplicationFailure a failed workflow ended with (the innermost one in the error's cause chain). */
export function failureOf(error: unknown): ApplicationFailure {
  if (!(error instanceof WorkflowFailedError))
    throw new Error(`expected a failed workflow, got ${String(error)}`);
  let cause: TemporalFailure | Error | undefined = error.cause;
  while (cause && !(cause instanceof ApplicationFailure)) cause = (cause as TemporalFailure).cause;
  if (!cause) throw new Error(`workflow failed without an ApplicationFailure: ${error.cause?.message}`);
  return cause;
}

/** A nonretryable Replicate error, as the activities throw it for a 4xx. */
export function replicateError(type: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}
