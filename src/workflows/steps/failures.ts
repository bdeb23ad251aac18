/** Reading a failed child run: the prediction it billed, its failure type, its innermost message (one reader). */
import { failureFacts } from '../../shared/failure-details';

/** The prediction a failed child ran, and the predict_time Replicate billed for it (from the failure details). */
export function failedPrediction(error: unknown): { predictionId: string | null; predictTime: number } {
  const run = failureFacts(error).run;
  const t = run?.metrics?.predict_time;
  return { predictionId: run?.predictionId ?? null, predictTime: typeof t === 'number' && t > 0 ? t : 0 };
}

/** The innermost ApplicationFailure type, e.g. PredictionFailed. */
export function errorType(error: unknown): string | undefined {
  return failureFacts(error).type;
}

/** The innermost message: a child's failure wraps the run's own typed failure. */
export function messageOf(error: unknown): string {
  return failureFacts(error).message;
}
