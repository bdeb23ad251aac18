/** Validating one step's own fields: its kind's (./kinds/) and `needs`. */
import { checkUnknownFields } from './fields';
import { describeType, describeValue, isPlainObject, unknownStep, type Report } from './helpers';
import { kindOf } from './kinds';
import type { StepSpec } from './spec';

export { checkTimeout, checkUnknownFields } from './fields';

/**
 * The step's own fields (everything but templates), checked by its kind (./kinds/): undefined when it is not a
 * mapping at all. `needs` is every kind's.
 */
export function checkStepShape(
  rawStep: unknown,
  path: string,
  stepName: string,
  stepNames: string[],
  stepTimeout: string,
  err: Report,
): StepSpec | undefined {
  if (!isPlainObject(rawStep)) {
    err(path, `must be a mapping with model (or deployment) and input, got ${describeType(rawStep)}`);
    return undefined;
  }
  const kind = kindOf(rawStep);
  checkUnknownFields(rawStep, `${path}.`, [...kind.fields, 'needs'], err);
  const step: StepSpec = { input: {} };
  kind.validate(rawStep, path, step, { stepTimeout }, err);

  if (rawStep.needs !== undefined) {
    if (!Array.isArray(rawStep.needs) || rawStep.needs.some((n) => typeof n !== 'string')) {
      err(`${path}.needs`, `must be a list of step names, got ${describeValue(rawStep.needs)}`);
    } else {
      const needs = rawStep.needs as string[];
      for (const n of needs) {
        if (n === stepName) err(`${path}.needs`, `a step cannot need itself ('${n}')`);
        else if (!stepNames.includes(n)) err(`${path}.needs`, unknownStep(n, stepNames));
      }
      step.needs = [...needs];
    }
  }
  return step;
}
