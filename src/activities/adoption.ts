/**
 * Adoption: on a retried create, the job a lost attempt of this run made (its answer never arrived) is found in
 * Replicate's listing and adopted instead of creating another. The rule itself is in src/shared/adopt.ts.
 */
import { Context, log } from '@temporalio/activity';
import {
  adoptionCreate,
  adoptionWindowStart,
  canonicalJson,
  chooseAdoption,
  matchBasis,
} from '../shared/adopt';
import { countAdoption } from '../observability/metrics';
import type { CreateTarget } from '../shared/model-ref';
import type { JobKind, PredictionSnapshot } from '../shared/types';
import { call, shaped, type ActivitySetup } from './context';
import type { CreatePredictionArgs } from './create';
import { lacksEchoedFields, withEchoedFields } from './echoed';
import { listSince } from './list';

/** How far back (pages of 100) a retried create looks for the job its lost attempt made. */
export const ADOPTION_MAX_PAGES = 20;

/** The job a lost attempt of this run created, if the listing shows exactly one (see src/shared/adopt.ts). */
export async function findOwnJob(
  setup: ActivitySetup,
  kind: JobKind,
  args: CreatePredictionArgs,
  target: CreateTarget,
  webhook: string | undefined,
  attemptTimeoutMs: number,
): Promise<PredictionSnapshot | undefined> {
  const { config } = setup;
  const workflowId = Context.current().info.workflowExecution?.workflowId;
  const firstAttemptMs = args.requestedAt
    ? Date.parse(args.requestedAt)
    : Context.current().info.scheduledTimestampMs;
  const from = adoptionWindowStart(firstAttemptMs);
  const listed = await listSince(setup, kind, from, ADOPTION_MAX_PAGES);
  const criteria = {
    target,
    input: args.input,
    cancelAtMs: Date.parse(args.cancelAt),
    firstAttemptMs,
    nowMs: Date.now(),
    attemptTimeoutMs,
    ...(workflowId === undefined ? {} : { workflowId }),
    ...(webhook === undefined ? {} : { webhook }),
  };
  // Matches whose listing echoes neither deadline nor webhook (not promised there): read each once, GET may.
  const unclear = chooseAdoption(listed, criteria).matches.filter(lacksEchoedFields);
  const read = new Map((await withEchoedFields(setup, kind, unclear)).map((p) => [p.id, p]));
  const candidates = listed.map((p) => read.get(p.id) ?? p);
  let choice = chooseAdoption(candidates, criteria);
  // Unless our webhook URL proves it, a match may be a sibling's (same input, started close by; deadlines alike):
  // leave out those another open run already owns (src/shared/adopt.ts, MatchBasis).
  const unproven = choice.adopt
    ? matchBasis(
        { ...choice.adopt, inputKey: canonicalJson(choice.adopt.input ?? null) },
        adoptionCreate(criteria),
      ) !== 'webhook'
    : choice.matches.length > 1;
  if (unproven && config.jobOwners) {
    const owners = await config.jobOwners(choice.matches.map((m) => m.id)).catch((error: unknown) => {
      log.warn(`could not look up which runs own ${kind}s; deciding without`, { error: String(error) });
      return new Map<string, string>();
    });
    const ownedElsewhere = new Set([...owners].filter(([, wf]) => wf !== workflowId).map(([id]) => id));
    if (ownedElsewhere.size > 0) choice = chooseAdoption(candidates, { ...criteria, ownedElsewhere });
  }
  const { adopt, matches, extras } = choice;
  if (adopt) {
    countAdoption(Context.current().metricMeter);
    log.warn(`adopted ${kind} ${adopt.id}: an earlier create attempt made it and its answer was lost`, {
      predictionId: adopt.id,
      kind,
      scanned: candidates.length,
    });
    // Other creates of this run that Replicate committed late: provably ours (webhook URL), never wanted.
    for (const extra of extras) await cancelExtra(setup, kind, extra.id, adopt.id);
    return { ...(await shaped(setup, adopt)), adopted: true };
  }
  if (matches.length > 1) {
    log.warn(`${matches.length} ${kind}s match this run and another one; adopting none, creating anew`, {
      candidates: matches.map((m) => m.id),
    });
  }
  return undefined;
}

/** Cancel a duplicate this run made; best effort (the reconciler and its Cancel-After remain). */
async function cancelExtra(
  setup: ActivitySetup,
  kind: JobKind,
  id: string,
  adoptedId: string,
): Promise<void> {
  try {
    await call(setup, `cancel extra ${kind} ${id}`, setup.timeouts.cancelMs, (client) =>
      kind === 'training' ? client.trainings.cancel(id) : client.predictions.cancel(id),
    );
    log.warn(`canceled ${kind} ${id}: a duplicate create of this run (adopted ${adoptedId})`, {
      predictionId: id,
      kind,
    });
  } catch (error) {
    log.warn(`could not cancel duplicate ${kind} ${id}; the reconciler will`, { error: String(error) });
  }
}
