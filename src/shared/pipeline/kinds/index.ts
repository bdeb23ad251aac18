/**
 * The registered step kinds, most specific first: a step is of the first kind that `matches` it (the prediction
 * step, last, takes every step no other kind claims). A new kind: its file here, and one line below.
 */
import type { StepSpec } from '../spec';
import type { StepKind } from '../step-kind';
import { approveStep } from './approve';
import { predictionStep } from './prediction';

export const STEP_KINDS: readonly StepKind[] = [approveStep, predictionStep];

/** The kind of a step, raw (a mapping from the spec) or validated. */
export function kindOf(step: StepSpec | Record<string, unknown>): StepKind {
  return STEP_KINDS.find((k) => k.matches(step as Record<string, unknown>)) ?? predictionStep;
}
