/**
 * What our failures carry besides their type and message, typed, and the one reader of it. Temporal turns every
 * error into an ApplicationFailure (wrapped in an ActivityFailure or a ChildWorkflowFailure on the way), so the
 * meaning travels in `details[0]`; `failureFacts` walks the cause chain once and returns it, for the workflows,
 * the client and the CLI alike. Workflow-safe: no I/O.
 */
import { ApplicationFailure, CancelledFailure, TimeoutFailure } from '@temporalio/common';
import { ReplicateTransientType } from './failures';
import type { PredictionFailureDetails } from './types';

/**
 * Whether a create attempt may have made a prediction at Replicate. `not-created` only when the request provably
 * did nothing: refused before it was sent, a 429, or any other 4xx. Everything else (a timeout, a connection lost
 * after the body left, a 5xx, a worker that died mid-attempt) may have committed.
 */
export type CreateOutcome = 'not-created' | 'may-have-committed';

/** details[0] of a failed call to Replicate (activities throw it; see src/activities/context.ts). */
export interface ReplicateCallDetails {
  httpStatus: number | null;
  /** Replicate's `detail` (problem+json) */
  detail: string | null;
  invalidFields: { field?: string; description?: string; type?: string }[] | null;
  /** how long a 429 asked us to wait, ms (nextRetryDelay does not reach workflow code) */
  retryAfterMs: number | null;
  /** set by the create activities only */
  createOutcome?: CreateOutcome;
}

/** Everything a caller needs to decide about a failure. */
export interface FailureFacts {
  /** the innermost ApplicationFailure's type, e.g. ReplicateRateLimited, PredictionFailed */
  type: string | undefined;
  /** the innermost message (a child's or an activity's own words, not the wrapper's) */
  message: string;
  /** an activity or workflow timed out (no answer: anything may have happened) */
  timedOut: boolean;
  /** a cancellation, ours or the user's */
  canceled: boolean;
  /** Temporal would not retry it (a non-retryable ApplicationFailure somewhere in the chain) */
  nonRetryable: boolean;
  retryAfterMs?: number;
  /** for a failed create: `not-created` only when the failure says so; unknown means it may have committed */
  createOutcome: CreateOutcome;
  /** a failed run's details: its prediction, status, logs and billed metrics */
  run?: PredictionFailureDetails;
}

const TRANSIENT_TYPES: readonly string[] = Object.values(ReplicateTransientType);

export function failureFacts(error: unknown): FailureFacts {
  const facts: FailureFacts = {
    type: undefined,
    message: error instanceof Error ? error.message : String(error),
    timedOut: false,
    canceled: false,
    nonRetryable: false,
    createOutcome: 'may-have-committed',
  };
  let e: unknown = error;
  for (let depth = 0; e instanceof Error && depth < 20; depth++) {
    if (e.message) facts.message = e.message;
    if (e instanceof TimeoutFailure) facts.timedOut = true;
    if (e instanceof CancelledFailure) facts.canceled = true;
    if (e instanceof ApplicationFailure) {
      if (e.type) facts.type = e.type;
      if (e.nonRetryable) facts.nonRetryable = true;
      const details = e.details?.[0];
      if (isCallDetails(details)) {
        if (typeof details.retryAfterMs === 'number') facts.retryAfterMs = details.retryAfterMs;
        if (details.createOutcome === 'not-created') facts.createOutcome = 'not-created';
      }
      for (const d of e.details ?? []) if (isRunDetails(d)) facts.run = d;
    }
    e = e.cause;
  }
  return facts;
}

/** A transient failure of a call to Replicate (5xx, network, timeout, 429): waiting can fix it. */
export function isTransient(facts: FailureFacts): boolean {
  if (facts.canceled) return false;
  if (facts.timedOut) return true;
  return !facts.nonRetryable && (facts.type === undefined || TRANSIENT_TYPES.includes(facts.type));
}

function isCallDetails(d: unknown): d is ReplicateCallDetails {
  return typeof d === 'object' && d !== null && 'httpStatus' in d && 'retryAfterMs' in d;
}

export function isRunDetails(d: unknown): d is PredictionFailureDetails {
  return typeof d === 'object' && d !== null && 'predictionId' in d && 'logsTail' in d;
}
