/** How a closed workflow that did not succeed ended, in the words of its failure and what that type means. */
import {
  ApplicationFailure,
  CancelledFailure,
  TerminatedFailure,
  TimeoutFailure,
  WorkflowFailedError,
} from '@temporalio/client';
import { gaveUp } from '../../client/failures';
import { explainFailure } from '../explain';

export interface FailureView {
  /** the failure type, e.g. PredictionFailed, ReplicateInvalidInput, BudgetExceeded, WorkflowCanceled */
  type: string;
  message: string;
  /** what it means and what to do (src/web/explain.ts), when the type is one of ours */
  explanation: string | null;
}

export function failureOf(error: unknown): FailureView {
  const cause = error instanceof WorkflowFailedError ? error.cause : undefined;
  let type: string;
  let message: string;
  if (cause instanceof CancelledFailure) {
    type = 'WorkflowCanceled';
    message = 'canceled; its running predictions were canceled at Replicate';
  } else if (cause instanceof TimeoutFailure) {
    type = 'WorkflowTimedOut';
    message = 'the workflow reached its execution timeout';
  } else if (cause instanceof TerminatedFailure) {
    type = 'WorkflowTerminated';
    message = `terminated${cause.message ? `: ${cause.message}` : ''}`;
  } else {
    // the innermost application failure says what happened (a child's or an activity's own words)
    let inner: unknown = cause;
    let app: ApplicationFailure | undefined;
    while (inner) {
      if (inner instanceof ApplicationFailure) app ??= inner;
      inner = (inner as { cause?: unknown }).cause;
    }
    type = app?.type ?? cause?.name ?? 'Error';
    message = gaveUp(app?.message ?? cause?.message ?? (error as Error)?.message ?? String(error));
  }
  return { type, message, explanation: explainFailure(type) };
}
