/** Reading a failed child run: the prediction it billed, its failure type, its innermost message. */
import { ApplicationFailure } from '@temporalio/workflow';
import type { PredictionFailureDetails } from '../../shared/types';

/** The prediction a failed child ran, and the predict_time Replicate billed for it (from the failure details). */
export function failedPrediction(error: unknown): { predictionId: string | null; predictTime: number } {
  let e: unknown = error;
  for (let depth = 0; e instanceof Error && depth < 10; depth++) {
    if (e instanceof ApplicationFailure) {
      const d = e.details?.[0] as Partial<PredictionFailureDetails> | undefined;
      if (d && typeof d === 'object' && 'predictionId' in d) {
        const t = d.metrics?.predict_time;
        return { predictionId: d.predictionId ?? null, predictTime: typeof t === 'number' && t > 0 ? t : 0 };
      }
    }
    e = e.cause;
  }
  return { predictionId: null, predictTime: 0 };
}

/** The innermost ApplicationFailure type, e.g. PredictionFailed. */
export function errorType(error: unknown): string | undefined {
  let type: string | undefined;
  let e: unknown = error;
  for (let depth = 0; e instanceof Error && depth < 10; depth++) {
    if (e instanceof ApplicationFailure && e.type) type = e.type;
    e = e.cause;
  }
  return type;
}

export function messageOf(error: unknown): string {
  let e = error as { message?: string; cause?: unknown } | undefined;
  // child failures wrap the run's own typed failure: report the innermost message
  while (e?.cause && (e.cause as { message?: string }).message) e = e.cause as typeof e;
  return e?.message ?? String(error);
}
