/**
 * Which listed jobs a run's create attempts may have made: candidates for a run whose attempt may have committed
 * without an answer, and for the reconciler. Pure. Ownership is never decided here: a run takes a job only by
 * winning its claim (src/workflows/claim.ts). The rule and why it holds: docs/architecture.md, "Adopt instead of
 * duplicate".
 */
import { MAX_OUTPUT_DEPTH, tooDeep } from './depth';
import type { CreateTarget } from './model-ref';
import { isTerminal, type Prediction } from './types';

export const CLOCK_SKEW_MS = 60_000;
export const DEADLINE_TOLERANCE_MS = 5_000;

/** What a run's create attempts looked like, for finding the job one of them made and lost the answer to. */
export interface OwnCreate {
  target: CreateTarget;
  input: unknown;
  /** the instant our Cancel-After aims at (ms since epoch) */
  cancelAtMs: number;
  /** when the first attempt that may have committed was sent (ms since epoch) */
  sinceMs: number;
  nowMs: number;
  /** our workflow id: a candidate whose webhook URL names it is ours, one naming another is not */
  workflowId?: string;
  /** our webhook URL, if we send one */
  webhook?: string;
}

/** Does a prediction's deadline fit a create aiming Cancel-After at `cancelAtMs`? (late side: the delay) */
export function deadlineFits(deadlineMs: number, cancelAtMs: number, attemptTimeoutMs: number): boolean {
  return (
    deadlineMs >= cancelAtMs - DEADLINE_TOLERANCE_MS &&
    deadlineMs <= cancelAtMs + attemptTimeoutMs + DEADLINE_TOLERANCE_MS
  );
}

/** The workflow id a webhook URL names (`...?workflow=<id>`), or null when it names none. */
export function webhookWorkflowId(webhook: string): string | null {
  try {
    return new URL(webhook).searchParams.get('workflow');
  } catch {
    return null;
  }
}

/**
 * The webhook verdict on a candidate: 'ours' / 'theirs' when its URL decides, undefined when it has none (the
 * deadline decides then).
 */
export function webhookVerdict(
  candidateWebhook: string | null | undefined,
  own: { workflowId?: string; webhook?: string },
): 'ours' | 'theirs' | undefined {
  if (!candidateWebhook) return undefined;
  if (own.webhook !== undefined && candidateWebhook === own.webhook) return 'ours';
  const named = webhookWorkflowId(candidateWebhook);
  return named !== null && own.workflowId !== undefined && named === own.workflowId ? 'ours' : 'theirs';
}

/** What a recorded create looked like: the facts a listed job is compared with. */
export interface RecordedCreate {
  target: CreateTarget;
  /** canonicalJson(input), or a digest of it (then the job's inputKey must be the same digest) */
  inputKey: string;
  cancelAtMs: number;
  /** the job must be created inside [fromMs, untilMs] */
  fromMs: number;
  untilMs: number;
  attemptTimeoutMs: number;
  workflowId?: string;
  webhook?: string;
}

/** The facts of a listed job that the rule needs. */
export interface JobFacts {
  created_at?: string | null;
  model?: string | null;
  version?: string | null;
  deployment?: string | null;
  deadline?: string | null;
  webhook?: string | null;
  inputKey: string;
}

/**
 * What made a job match a recorded create, strongest first: its webhook URL names our run ('webhook'), its deadline
 * fits our Cancel-After ('deadline'), or, when the answer echoes neither (the description promises neither in
 * listings), the fallback: the same model or version, the same canonical input, created inside the create's window
 * ('input-and-window'). Two runs with the same input started close together are indistinguishable on the fallback
 * alone: callers then ask which open run owns what, and adopt or cancel nothing they cannot tell apart.
 */
export type MatchBasis = 'webhook' | 'deadline' | 'input-and-window';

/** How this job matches the recorded create (any of its attempts), or null when it cannot be that create's. */
export function matchBasis(job: JobFacts, create: RecordedCreate): MatchBasis | null {
  const created = job.created_at ? Date.parse(job.created_at) : NaN;
  if (!(created >= create.fromMs && created <= create.untilMs)) return null;
  if (!sameTarget(job, create.target)) return null;
  if (job.inputKey !== create.inputKey) return null;
  const verdict = webhookVerdict(job.webhook, create);
  if (verdict !== undefined) return verdict === 'ours' ? 'webhook' : null;
  if (job.deadline) {
    return deadlineFits(Date.parse(job.deadline), create.cancelAtMs, create.attemptTimeoutMs)
      ? 'deadline'
      : null;
  }
  return 'input-and-window';
}

/** Is this job one that the recorded create (any of its attempts) made? */
export function madeBy(job: JobFacts, create: RecordedCreate): boolean {
  return matchBasis(job, create) !== null;
}

/**
 * The recorded create a search for our own lost job looks for. Replicate may commit a create long after the attempt
 * gave up (we have seen 38 s), and its deadline is then late by as much, so a commit as late as now is allowed.
 */
export function ownCreateRecord(c: OwnCreate): RecordedCreate {
  return {
    target: c.target,
    inputKey: canonicalJson(c.input),
    cancelAtMs: c.cancelAtMs,
    fromMs: c.sinceMs - CLOCK_SKEW_MS,
    untilMs: c.nowMs + CLOCK_SKEW_MS,
    attemptTimeoutMs: Math.max(0, c.nowMs - c.sinceMs),
    ...(c.workflowId === undefined ? {} : { workflowId: c.workflowId }),
    ...(c.webhook === undefined ? {} : { webhook: c.webhook }),
  };
}

/**
 * The listed jobs one of our attempts may have made, best first: a succeeded one (already paid for), then running
 * ones, then other ended ones; older first. A match only makes a candidate: a run takes one only by winning its
 * claim (src/workflows/claim.ts), so two runs that cannot tell their jobs apart never share one.
 */
export function ownCandidates(
  listed: Prediction[],
  c: OwnCreate,
  exclude: ReadonlySet<string> = new Set(),
): Prediction[] {
  const create = ownCreateRecord(c);
  const rank = (p: Prediction) => (p.status === 'succeeded' ? 0 : isTerminal(p.status) ? 2 : 1);
  return listed
    .filter((p) => !exclude.has(p.id) && madeBy({ ...p, inputKey: canonicalJson(p.input ?? null) }, create))
    .sort(
      (a, b) => rank(a) - rank(b) || Date.parse(a.created_at ?? '') - Date.parse(b.created_at ?? '') || 0,
    );
}

function sameTarget(p: Omit<JobFacts, 'inputKey'>, target: CreateTarget): boolean {
  switch (target.route) {
    case 'model':
      return p.model === `${target.owner}/${target.name}`;
    case 'version':
      return p.version === target.version && (target.model === null || p.model === target.model);
    case 'deployment':
      return (
        p.deployment === undefined ||
        p.deployment === null ||
        p.deployment === `${target.owner}/${target.name}`
      );
  }
}

/** What canonicalJson gives for a value nested too deep: not JSON, so it equals no input we create with. */
export const TOO_DEEP_KEY = '#nested-too-deep';

/**
 * JSON with object keys sorted, so equal inputs compare equal whatever their key order. A listed job's input is
 * whatever its creator sent: past MAX_OUTPUT_DEPTH (ours never nest past MAX_INPUT_DEPTH) it is not walked.
 */
export function canonicalJson(value: unknown): string {
  if (tooDeep(value, MAX_OUTPUT_DEPTH, 'input')) return TOO_DEEP_KEY;
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}
