/** `getPrediction`: read a job's current state. */
import type { JobKind, Prediction, PredictionSnapshot } from '../shared/types';
import { call, shaped, type ActivitySetup } from './context';

/** Read a prediction's (or training's) current state. */
export async function getJob(
  setup: ActivitySetup,
  jobId: string,
  kind: JobKind,
): Promise<PredictionSnapshot> {
  const job = await call(setup, `get ${kind} ${jobId}`, setup.timeouts.getMs, (client) =>
    kind === 'training' ? client.trainings.get(jobId) : client.predictions.get(jobId),
  );
  return shaped(setup, job as Prediction, kind);
}
