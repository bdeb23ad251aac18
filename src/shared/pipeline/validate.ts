/** Validating a parsed spec: every problem at once, each at the path of its field; defaults filled in. */
import { checkSpecDepth } from './check-depth';
import { checkPipelineSize } from './check-size';
import { checkStepShape } from './check-step';
import { checkTimeout, checkUnknownFields, describeCache } from './fields';
import { checkStepTemplates } from './check-templates';
import { findCycles } from './graph';
import {
  RESERVED_INPUT_NAMES,
  cloneData,
  describeType,
  describeValue,
  isPlainObject,
  reservedInputName,
} from './helpers';
import { PIPELINE_LIMITS } from './limits';
import { checkBudget, checkPrices } from './prices';
import { PIPELINE_DEFAULTS, type PipelineSpec, type SpecError, type StepSpec } from './spec';

const PIPELINE_FIELDS = [
  'name',
  'description',
  'inputs',
  'failure',
  'timeout',
  'stepTimeout',
  'prices',
  'budget',
  'cache',
  'steps',
] as const;
const PIPELINE_NAME = /^[a-z0-9][a-z0-9-]*$/;
const STEP_NAME = /^[a-zA-Z][a-zA-Z0-9_-]*$/;

/**
 * Validate an already-parsed spec (from YAML or JSON) and apply defaults: `inputs` {} merged with
 * `inputOverrides` (which replace defaults and may add inputs; values are taken as given, so a string stays a
 * string — `parseInputOverrides` in src/client/pipeline-file.ts JSON-parses CLI values first), `failure` 'fail-fast',
 * `timeout` '30m', `stepTimeout` '10m', each step's `timeout` (the pipeline's `stepTimeout`) and `input` ({}).
 * Returns every problem at once, each at the path of its field.
 */
export function validatePipelineSpec(
  raw: unknown,
  inputOverrides?: Record<string, unknown>,
): { spec: PipelineSpec } | { errors: SpecError[] } {
  const errors: SpecError[] = [];
  const err = (path: string, message: string): void => {
    errors.push({ path, message });
  };
  // first: nothing below walks a value nested too deep
  const deep = checkSpecDepth(raw, inputOverrides);
  if (deep.length > 0) return { errors: deep };
  if (!isPlainObject(raw)) {
    err('(spec)', `must be a mapping with name and steps, got ${describeType(raw)}`);
    return { errors };
  }
  checkUnknownFields(raw, '', PIPELINE_FIELDS, err);

  // name
  const name = raw.name;
  if (name === undefined) {
    err('name', "missing; give the pipeline a name such as 'poster'");
  } else if (
    typeof name !== 'string' ||
    !PIPELINE_NAME.test(name) ||
    name.length > PIPELINE_LIMITS.maxNameLength
  ) {
    err(
      'name',
      `${describeValue(name)} is not a valid name; use lowercase letters, digits and '-', starting with a letter or digit, at most ${PIPELINE_LIMITS.maxNameLength} characters`,
    );
  }
  if (raw.description !== undefined && typeof raw.description !== 'string') {
    err('description', `must be text, got ${describeType(raw.description)}`);
  }

  // inputs
  let inputs: Record<string, unknown> = {};
  for (const name of RESERVED_INPUT_NAMES) {
    const given = [raw.inputs, inputOverrides].some((m) => isPlainObject(m) && Object.hasOwn(m, name));
    if (given) err(`inputs.${name}`, reservedInputName(name));
  }
  if (raw.inputs !== undefined && raw.inputs !== null) {
    if (isPlainObject(raw.inputs)) inputs = cloneData(raw.inputs) as Record<string, unknown>;
    else err('inputs', `must be a mapping of input names to default values, got ${describeType(raw.inputs)}`);
  }
  if (inputOverrides) inputs = { ...inputs, ...inputOverrides };

  // failure
  let failure: PipelineSpec['failure'] = PIPELINE_DEFAULTS.failure;
  if (raw.failure !== undefined) {
    if (raw.failure === 'fail-fast' || raw.failure === 'continue') failure = raw.failure;
    else err('failure', `must be 'fail-fast' or 'continue', got ${describeValue(raw.failure)}`);
  }

  // timeouts
  const timeout = checkTimeout(raw.timeout, 'timeout', PIPELINE_DEFAULTS.timeout, err);
  const stepTimeout = checkTimeout(raw.stepTimeout, 'stepTimeout', PIPELINE_DEFAULTS.stepTimeout, err);

  // cache: the default of every prediction step's
  let cache: boolean | undefined;
  if (raw.cache !== undefined) {
    if (typeof raw.cache === 'boolean') cache = raw.cache;
    else err('cache', describeCache(raw.cache));
  }

  // prices (also the format of the CLI's --prices FILE)
  const prices = checkPrices(raw.prices, 'prices', err);

  // steps
  const steps: Record<string, StepSpec> = {};
  const rawSteps = raw.steps;
  if (rawSteps === undefined || rawSteps === null) {
    err('steps', 'missing; a pipeline needs at least one step');
  } else if (!isPlainObject(rawSteps)) {
    err('steps', `must be a mapping of step names to steps, got ${describeType(rawSteps)}`);
  } else if (Object.keys(rawSteps).length === 0) {
    err('steps', 'empty; a pipeline needs at least one step');
  } else {
    const stepNames = Object.keys(rawSteps);
    // First pass: the shape of each step, so references can be checked against all of them.
    for (const [stepName, rawStep] of Object.entries(rawSteps)) {
      const path = `steps.${stepName}`;
      if (!STEP_NAME.test(stepName) || stepName.length > PIPELINE_LIMITS.maxNameLength) {
        err(
          path,
          `'${stepName}' is not a valid step name; use letters, digits, '_' and '-', starting with a letter, at most ${PIPELINE_LIMITS.maxNameLength} characters`,
        );
      }
      const step = checkStepShape(rawStep, path, stepName, stepNames, stepTimeout, err);
      if (step) steps[stepName] = step;
    }
    // Second pass: templates (they look at other steps' shapes), then cycles.
    for (const [stepName, step] of Object.entries(steps)) {
      checkStepTemplates(stepName, step, steps, stepNames, inputs, err);
    }
    for (const e of findCycles(steps)) errors.push(e);
    // what Temporal would refuse: too many children, too much input for one history
    if (errors.length === 0) checkPipelineSize(steps, inputs, err);
  }
  // budget: needs a price for every step's model
  const budget = checkBudget(raw.budget, prices, steps, err);

  if (errors.length > 0) return { errors };
  const spec: PipelineSpec = { name: name as string, inputs, failure, timeout, stepTimeout, steps };
  if (typeof raw.description === 'string') spec.description = raw.description;
  if (prices) spec.prices = prices;
  if (budget) spec.budget = budget;
  if (cache !== undefined) spec.cache = cache;
  return { spec };
}
