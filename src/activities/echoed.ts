/**
 * The echoed fields (`deadline`, `webhook`) of listed jobs that came without them: the
 * OpenAPI description promises neither in list results (its list example has no `deadline`, its schema no
 * `webhook`), so where a listing leaves them out and a decision would use them, each such job is read once with
 * GET, which may carry them. Where GET leaves them out too, the job keeps what the listing said and the rules
 * fall back to model, input and creation window (src/shared/adopt.ts).
 */
import { log } from '@temporalio/activity';
import type { JobKind, Prediction } from '../shared/types';
import { call, type ActivitySetup } from './context';

/** At most this many GETs per call: a listing full of foreign jobs must not turn into a storm of reads. */
export const MAX_ECHO_READS = 50;

/** Jobs that carry none of the echoed fields. */
export function lacksEchoedFields(job: Pick<Prediction, 'deadline' | 'webhook'>): boolean {
  return !job.deadline && !job.webhook;
}

/**
 * `jobs` with the echoed fields that GET gives for those that lack them (at most `limit` reads; a failed read
 * leaves that job as listed). The order and everything else are kept.
 */
export async function withEchoedFields(
  setup: ActivitySetup,
  kind: JobKind,
  jobs: Prediction[],
  limit = MAX_ECHO_READS,
): Promise<Prediction[]> {
  let reads = 0;
  const out: Prediction[] = [];
  for (const job of jobs) {
    if (!lacksEchoedFields(job) || reads >= limit) {
      out.push(job);
      continue;
    }
    reads++;
    try {
      const full = await call(setup, `get ${kind} ${job.id}`, setup.timeouts.getMs, (client) =>
        kind === 'training' ? client.trainings.get(job.id) : client.predictions.get(job.id),
      );
      const { deadline, webhook } = full as Prediction;
      out.push({ ...job, ...(deadline ? { deadline } : {}), ...(webhook ? { webhook } : {}) });
    } catch (error) {
      log.warn(`could not read ${kind} ${job.id}; deciding on what the listing says`, {
        error: String(error),
      });
      out.push(job);
    }
  }
  return out;
}
