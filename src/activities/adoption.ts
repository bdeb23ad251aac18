/**
 * `findOwnJobs`: after a create attempt that may have committed without an answer (a timeout, a lost connection, a
 * worker that died mid-attempt), the jobs that attempt may have made, best first. The workflow calls it before its
 * next attempt (to adopt the job instead of paying for a second one) and, for a while after, to catch a create
 * Replicate committed late (src/workflows/late-commits.ts). It only finds candidates: the workflow takes one only
 * by winning its claim. The rule is in src/shared/adopt.ts.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { CLOCK_SKEW_MS, ownCandidates, type OwnCreate } from '../shared/adopt';
import { PredictionFailureType } from '../shared/failures';
import { isCreateTarget, parseModelRef } from '../shared/model-ref';
import type { JobKind, PredictionSnapshot } from '../shared/types';
import { resolveClaims } from './claims';
import { shaped, type ActivitySetup } from './context';
import { readsRouting, webhookUrlFor } from './create';
import { lacksEchoedFields, withEchoedFields } from './echoed';
import { listSince } from './list';

/** How far back (pages of 100) a search for a lost attempt's job looks. */
export const ADOPTION_MAX_PAGES = 20;
/** At most this many candidates are returned (each is read and shaped for the workflow). */
export const MAX_CANDIDATES = 10;

export interface FindOwnJobsArgs {
  kind: JobKind;
  model: string;
  deployment?: boolean;
  /** the input the create attempts sent */
  input: Record<string, unknown>;
  /** the create attempts' Cancel-After target (ISO 8601) */
  cancelAt: string;
  /** when the first attempt that may have committed was sent (ISO 8601) */
  since: string;
  /** jobs to leave out: the run's own, and those another run has claimed */
  exclude?: string[];
  /** the run whose attempts these were (default: the calling workflow) */
  workflowId?: string;
}

export async function findOwnJobs(
  setup: ActivitySetup,
  args: FindOwnJobsArgs,
): Promise<PredictionSnapshot[]> {
  const target = parseModelRef(args.model, args.deployment === true);
  if (!isCreateTarget(target)) {
    throw ApplicationFailure.create({
      type: PredictionFailureType.InvalidRequest,
      message: target.error,
      nonRetryable: true,
    });
  }
  const workflowId = args.workflowId ?? Context.current().info.workflowExecution?.workflowId;
  const webhook = webhookUrlFor(setup.config.webhookBaseUrl, workflowId);
  const since = Date.parse(args.since);
  // what Replicate received: claim references resolved, as the create sent them
  const input = await resolveClaims(args.input, setup.claims, { key: setup.claimKey });
  const own = (nowMs: number): OwnCreate => ({
    target,
    input,
    cancelAtMs: Date.parse(args.cancelAt),
    sinceMs: since,
    nowMs,
    ...(workflowId === undefined ? {} : { workflowId }),
    ...(webhook === undefined ? {} : { webhook }),
  });
  const exclude = new Set(args.exclude ?? []);
  const listed = await listSince(setup, args.kind, since - CLOCK_SKEW_MS, ADOPTION_MAX_PAGES);
  // Matches whose listing echoes neither deadline nor webhook (not promised there): read each once, GET may.
  const unclear = ownCandidates(listed, own(Date.now()), exclude).filter(lacksEchoedFields);
  const read = new Map((await withEchoedFields(setup, args.kind, unclear)).map((p) => [p.id, p]));
  const candidates = ownCandidates(
    listed.map((p) => read.get(p.id) ?? p),
    own(Date.now()),
    exclude,
  ).slice(0, MAX_CANDIDATES);
  // as the create would have answered: whether webhooks were asked for, and where the fleet serves reads
  const routing = readsRouting(setup.config);
  const out: PredictionSnapshot[] = [];
  for (const c of candidates)
    out.push({ ...(await shaped(setup, c, args.kind)), webhook: webhook !== undefined, ...routing });
  return out;
}
