/** A closed prediction run as one plain object: RunSummary (what the CLI's `--json` prints). */
import { isRunDetails } from '../shared/failure-details';
import {
  ApplicationFailure,
  CancelledFailure,
  TerminatedFailure,
  TimeoutFailure,
  WorkflowFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { readOutputClaim, type ClaimKey, type ClaimStore } from '../activities/claims';
import { PredictionFailureType } from '../shared/failures';
import type { PredictionResult } from '../shared/types';
import type { runPrediction } from '../workflows';
import { gaveUp } from './failures';
import { predictionState } from './state';

/** How a prediction run ended: exactly one object, whatever happened. */
export interface RunSummary {
  workflowId: string;
  /** the prediction at Replicate, when one was created */
  predictionId: string | null;
  /** `timed_out`/`terminated`: Temporal ended the workflow; `error`: any other failure (see `error.type`) */
  status: 'succeeded' | 'failed' | 'canceled' | 'aborted' | 'timed_out' | 'terminated' | 'error';
  /** the model's output (claim references resolved when a store was given) */
  output: unknown;
  metrics: PredictionResult['metrics'] | null;
  /** the output files kept in the output store (`persist`), next to Replicate's URLs in `output` */
  files?: PredictionResult['files'];
  /** why they could not be kept (the prediction succeeded) */
  keepError?: string;
  /** served by the result cache: nothing created, nothing paid; the run that made it */
  cached?: PredictionResult['cached'];
  /** the failure type (e.g. `PredictionFailed`, `ReplicateInvalidInput`), its message and the last log lines */
  error: { type: string; message: string; logsTail?: string[] } | null;
}

/** What outcome helpers may read large outputs from. */
export interface OutcomeOptions {
  /** where the workers keep outputs too large for Temporal (claim checks): a run's reference is replaced by its value */
  claims?: ClaimStore;
  /**
   * the fleet's claim key (`claimKey(REPLICATE_API_TOKEN)`): with it, only a reference the workers signed is read;
   * without it, any output that is a reference is read from `claims` (whoever reads has that store anyway)
   */
  claimKey?: ClaimKey;
}

const STATUS_BY_TYPE: Record<string, RunSummary['status']> = {
  [PredictionFailureType.Failed]: 'failed',
  [PredictionFailureType.Canceled]: 'canceled',
  [PredictionFailureType.Aborted]: 'aborted',
  [PredictionFailureType.TimedOut]: 'timed_out',
};

/**
 * Wait for the run to close and describe how it ended. A failed, canceled or timed-out run is a RunSummary too;
 * only errors unrelated to the run (e.g. Temporal unreachable, no such workflow) are thrown. With `claims`, an
 * output kept out of band is read back (the reference stays when it cannot be read here).
 */
export async function predictionOutcome(
  handle: WorkflowHandle<typeof runPrediction>,
  { claims, claimKey }: OutcomeOptions = {},
): Promise<RunSummary> {
  const base = { workflowId: handle.workflowId, output: null, metrics: null };
  try {
    const result = await handle.result();
    return {
      ...base,
      predictionId: result.id,
      status: 'succeeded',
      output: claims
        ? await readOutputClaim(result.output, claims, claimKey).catch(() => result.output)
        : result.output,
      metrics: result.metrics,
      ...(result.files ? { files: result.files } : {}),
      ...(result.keepError ? { keepError: result.keepError } : {}),
      ...(result.cached ? { cached: result.cached } : {}),
      error: null,
    };
  } catch (error) {
    if (!(error instanceof WorkflowFailedError)) throw error;
    const state = await predictionState(handle);
    const cause = error.cause;
    if (cause instanceof CancelledFailure) {
      return {
        ...base,
        predictionId: state?.predictionId ?? null,
        status: 'canceled',
        error: {
          type: 'WorkflowCanceled',
          message: 'the run was canceled; its prediction was canceled at Replicate',
        },
      };
    }
    if (cause instanceof TimeoutFailure || cause instanceof TerminatedFailure) {
      return {
        ...base,
        predictionId: state?.predictionId ?? null,
        status: cause instanceof TimeoutFailure ? 'timed_out' : 'terminated',
        error: {
          type: cause.name,
          message: `the workflow ${cause instanceof TimeoutFailure ? 'timed out' : 'was terminated'} before it could clean up`,
        },
      };
    }
    const failure = cause instanceof ApplicationFailure ? cause : undefined;
    const details = failure?.details?.find(isRunDetails);
    const type = failure?.type ?? cause?.name ?? 'Error';
    return {
      ...base,
      predictionId: details?.predictionId ?? state?.predictionId ?? null,
      status: STATUS_BY_TYPE[type] ?? 'error',
      metrics: details?.metrics ?? null,
      error: {
        type,
        message: gaveUp(failure?.message ?? cause?.message ?? error.message),
        logsTail: details?.logsTail,
      },
    };
  }
}
