/**
 * A run's create phase: send the create, one attempt per activity execution, until the run owns a job.
 *
 * - Each attempt's outcome is in the history before the next one is sent. A failure that provably created nothing
 *   (a 429, any other 4xx, a connection never made) is simply retried after its delay. Any other failure (a timeout,
 *   a connection lost after the body left, a 5xx, a dead worker) may have committed a create whose answer we never
 *   got: from then on, every attempt first searches for that job (`findOwnJobs`) and adopts it instead of paying for
 *   another.
 * - A run takes a job, created or found, only by winning its claim (../claim.ts). A job another run claimed first
 *   is theirs: a search skips it, and a run whose freshly created job was claimed by a twin's search creates again.
 * - Retries follow CREATE_RETRY, at least a 429's Retry-After; only the run's deadline ends a 429 storm.
 * Deterministic code only.
 */
import { ApplicationFailure, log, metricMeter, sleep } from '@temporalio/workflow';
import { countAdoption } from '../../observability/metrics';
import { humanDuration } from '../../shared/duration';
import { failureFacts, isTransient } from '../../shared/failure-details';
import { PredictionFailureType, ReplicateTransientType } from '../../shared/failures';
import { isSlotNeeded, type SlotNeeded } from '../../shared/slots';
import type { JobKind, PredictionRequest, PredictionSnapshot, TrainingRequest } from '../../shared/types';
import { claimJob } from '../claim';
import { CREATE_RETRY } from '../retry-policies';

/** The window in which a lost attempt's job may appear: from the first such attempt to the last one sent. */
export interface Uncertainty {
  /** when the first attempt that may have committed was sent (ms since epoch) */
  sinceMs: number;
  /** when the last one was sent */
  lastMs: number;
}

export interface CreateCalls {
  create(checkConcurrency: boolean, requestedAt: string): Promise<PredictionSnapshot | SlotNeeded>;
  findOwnJobs(since: string, exclude: string[]): Promise<PredictionSnapshot[]>;
}

/** Wait before attempt `attempt + 1` (attempt is 1-based): CREATE_RETRY's backoff. */
export function createRetryDelayMs(attempt: number): number {
  const raw = CREATE_RETRY.initialIntervalMs * Math.pow(CREATE_RETRY.multiplier, attempt - 1);
  return Math.round(Math.min(raw, CREATE_RETRY.maxIntervalMs));
}

/** A run whose new jobs keep being claimed by others gives up (it cannot happen with Replicate's unique ids). */
const MAX_LOST_CLAIMS = 5;

export class CreateAttempts {
  /** set once an attempt may have committed: the late-commit watch covers this window */
  uncertain: Uncertainty | undefined;
  attempts = 0;
  /** jobs this run saw claimed by another run */
  private readonly takenByOthers = new Set<string>();
  /** jobs this run created that another run claimed first */
  private lostClaims = 0;

  constructor(
    private readonly kind: JobKind,
    private readonly request: PredictionRequest | TrainingRequest,
    private readonly owner: string,
    private readonly calls: CreateCalls,
  ) {}

  /** The job this run now owns (adopted or created), or the limiter's answer when the model is limited. */
  async run(checkConcurrency: boolean): Promise<PredictionSnapshot | SlotNeeded> {
    for (;;) {
      if (this.uncertain !== undefined) {
        const found = await this.adoptLost();
        if (found) return found;
      }
      this.attempts++;
      const requestedAt = Date.now();
      let answer: PredictionSnapshot | SlotNeeded;
      try {
        answer = await this.calls.create(checkConcurrency, new Date(requestedAt).toISOString());
      } catch (error) {
        await this.afterFailure(error, requestedAt);
        continue;
      }
      if (isSlotNeeded(answer)) return answer;
      if (await this.claim(answer.id)) return answer;
      // A twin's search found our new job and claimed it first: it follows it now. This attempt was certain (we
      // have its answer), so the next one needs no search on its account. Replicate never answers two creates
      // with one id, so this can only repeat while twins keep searching: bounded all the same.
      this.takenByOthers.add(answer.id);
      if (++this.lostClaims >= MAX_LOST_CLAIMS) {
        throw ApplicationFailure.nonRetryable(
          `${this.lostClaims} jobs this run created were claimed by other runs first (last: ${answer.id}); giving up`,
          PredictionFailureType.InvalidRequest,
        );
      }
      log.warn(`${this.kind} ${answer.id} was claimed by another run first; creating another`, {
        predictionId: answer.id,
      });
    }
  }

  /** The first job a lost attempt may have made that this run can claim, marked adopted. */
  private async adoptLost(): Promise<PredictionSnapshot | undefined> {
    const since = new Date(this.uncertain!.sinceMs).toISOString();
    const candidates = await this.calls.findOwnJobs(since, [...this.takenByOthers]);
    for (const c of candidates) {
      if (await this.claim(c.id)) {
        countAdoption(metricMeter);
        log.warn(`adopted ${this.kind} ${c.id}: an earlier create attempt made it and its answer was lost`, {
          predictionId: c.id,
          candidates: candidates.length,
        });
        return { ...c, adopted: true };
      }
      this.takenByOthers.add(c.id);
    }
    return undefined;
  }

  private claim(jobId: string): Promise<boolean> {
    return claimJob({ jobId, kind: this.kind, owner: this.owner });
  }

  /** Record what the failed attempt tells, then wait before the next one (or rethrow: not worth retrying). */
  private async afterFailure(error: unknown, requestedAt: number): Promise<void> {
    const facts = failureFacts(error);
    if (!isTransient(facts)) throw error;
    if (facts.createOutcome === 'may-have-committed') {
      this.uncertain = { sinceMs: this.uncertain?.sinceMs ?? requestedAt, lastMs: requestedAt };
    }
    if (
      this.attempts >= CREATE_RETRY.maxAttemptsUnlessRateLimited &&
      facts.type !== ReplicateTransientType.RateLimited
    )
      throw error;
    const delay = Math.max(facts.retryAfterMs ?? 0, createRetryDelayMs(this.attempts));
    // The activity logged the failure itself; say only what the workflow decided that it could not know.
    if (facts.createOutcome === 'may-have-committed') {
      log.warn(
        `create attempt ${this.attempts} of ${this.kind} for ${this.request.model} may have made a job: the next attempt (in ${humanDuration(delay)}) looks for it first`,
        { attempt: this.attempts },
      );
    }
    await sleep(delay, {
      summary: `retry the create in ${humanDuration(delay)} (attempt ${this.attempts}: ${facts.createOutcome === 'not-created' ? 'nothing was created' : 'it may have created a job'})`,
    });
  }
}
