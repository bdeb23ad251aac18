/** `cancelPrediction`: ask Replicate to stop a job. */
import { log } from '@temporalio/activity';
import type { JobKind, Prediction, PredictionSnapshot } from '../shared/types';
import { call, shaped, type ActivitySetup } from './context';

/** Cancel a prediction (or training). Canceling one that already ended is harmless: it comes back unchanged. */
export async function cancelJob(
  setup: ActivitySetup,
  jobId: string,
  kind: JobKind,
): Promise<PredictionSnapshot> {
  const job = await call(setup, `cancel ${kind} ${jobId}`, setup.timeouts.cancelMs, (client) =>
    kind === 'training' ? client.trainings.cancel(jobId) : client.predictions.cancel(jobId),
  );
  log.info(`${kind} ${jobId} cancel requested; status now ${job.status}`, {
    predictionId: jobId,
    model: job.model,
    kind,
    status: job.status,
  });
  return shaped(setup, job as Prediction, kind);
}
