/**
 * Adopt instead of duplicate. Pure: decides which prediction (if any) a retried create may adopt.
 *
 * Replicate has no idempotency key. When a create attempt's outcome is unknown (timeout, reset, worker crash),
 * the next attempt lists the predictions created since the first attempt and adopts the one that attempt made.
 * A prediction is ours when ALL of these hold:
 *  - it was created inside the window [first attempt - CLOCK_SKEW_MS, now];
 *  - it targets the same model / version (deployments: the listing does not say, so input and deadline decide);
 *  - its input is identical to ours (canonical JSON, key order ignored);
 *  - its `deadline` (Replicate's created_at + our Cancel-After) lies within DEADLINE_TOLERANCE_MS of our
 *    `cancelAt`: every attempt of a run sends Cancel-After aiming at the same instant, so this marks the run.
 *  - when webhooks are on, its `webhook` URL (which carries our workflow id) is ours: this alone tells runs apart.
 * Exactly one match is adopted. Several matches mean another run with the same input and the same deadline
 * (e.g. a fan-out started in the same second): we adopt none rather than take a sibling's prediction, and create
 * anew; the orphan is stopped by its Cancel-After and canceled by the reconciler.
 */
import type { CreateTarget } from './model-ref';
import type { Prediction } from './types';

export const CLOCK_SKEW_MS = 60_000;
export const DEADLINE_TOLERANCE_MS = 5_000;

export interface AdoptionCriteria {
  target: CreateTarget;
  input: unknown;
  /** the instant our Cancel-After aims at (ms since epoch) */
  cancelAtMs: number;
  /** when the first create attempt was scheduled (ms since epoch) */
  firstAttemptMs: number;
  nowMs: number;
  /** our webhook URL (it carries the workflow id): when both sides have one they must be equal */
  webhook?: string;
}

export function adoptionWindowStart(firstAttemptMs: number): number {
  return firstAttemptMs - CLOCK_SKEW_MS;
}

export function matchingPredictions(candidates: Prediction[], c: AdoptionCriteria): Prediction[] {
  const input = canonicalJson(c.input);
  const from = adoptionWindowStart(c.firstAttemptMs);
  return candidates.filter((p) => {
    const created = p.created_at ? Date.parse(p.created_at) : NaN;
    if (!(created >= from && created <= c.nowMs + CLOCK_SKEW_MS)) return false;
    if (!sameTarget(p, c.target)) return false;
    if (canonicalJson(p.input ?? null) !== input) return false;
    if (c.webhook && p.webhook && p.webhook !== c.webhook) return false;
    if (p.deadline) return Math.abs(Date.parse(p.deadline) - c.cancelAtMs) <= DEADLINE_TOLERANCE_MS;
    return true;
  });
}

/** The prediction to adopt, or undefined (none, or ambiguous). */
export function chooseAdoption(
  candidates: Prediction[],
  c: AdoptionCriteria,
): {
  adopt?: Prediction;
  matches: Prediction[];
} {
  const matches = matchingPredictions(candidates, c);
  return { adopt: matches.length === 1 ? matches[0] : undefined, matches };
}

function sameTarget(p: Prediction, target: CreateTarget): boolean {
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

/** JSON with object keys sorted, so equal inputs compare equal whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}
