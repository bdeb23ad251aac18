/**
 * A spec's nesting, checked before anything else walks it: every pipeline input and step input may nest
 * MAX_INPUT_DEPTH levels (like a prediction's input), the rest of the spec only as deep as its shape needs.
 */
import { MAX_INPUT_DEPTH, tooDeep, tooDeepMessage } from '../depth';
import { isPlainObject } from './helpers';
import type { SpecError } from './spec';

/** spec -> steps -> STEP -> input: where the deepest field starts. */
const SPEC_DEPTH = MAX_INPUT_DEPTH + 3;

/** One error per input nested too deep, at its path (`inputs.NAME`, `steps.STEP.input`); none when all fit. */
export function checkSpecDepth(raw: unknown, inputOverrides?: Record<string, unknown>): SpecError[] {
  const errors: SpecError[] = [];
  const check = (value: unknown, path: string, limit = MAX_INPUT_DEPTH): void => {
    const found = tooDeep(value, limit, path);
    if (found) errors.push({ path, message: tooDeepMessage(found) });
  };
  const inputs = isPlainObject(raw) && isPlainObject(raw.inputs) ? raw.inputs : {};
  for (const [name, value] of [...Object.entries(inputs), ...Object.entries(inputOverrides ?? {})])
    check(value, `inputs.${name}`);
  const steps = isPlainObject(raw) && isPlainObject(raw.steps) ? raw.steps : {};
  for (const [name, step] of Object.entries(steps))
    if (isPlainObject(step)) check(step.input, `steps.${name}.input`);
  // anything else: no deeper than the deepest input sits in the spec
  if (errors.length === 0) check(raw, '(spec)', SPEC_DEPTH);
  return errors;
}
