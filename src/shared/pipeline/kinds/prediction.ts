/**
 * The prediction step, the first StepKind: one Replicate model (or deployment) run once, `count` times or once per
 * `foreach` item, each run a child `runPrediction` workflow (src/workflows/steps/run-step.ts starts it). Its cost is
 * the spec's price × predict_time.
 */
import { POLLING_BOUNDS } from '../../polling';
import { isCreateTarget, parseModelRef } from '../../model-ref';
import { MAX_INPUT_BYTES } from '../../validate';
import { checkRange, checkTimeout, checkUnknownFields, describeCache } from '../fields';
import { estimateCost } from '../cost';
import { expandStep, isFannedOut } from '../fan-out';
import { cloneData, describeType, describeValue, isPlainObject, type Report } from '../helpers';
import { PIPELINE_LIMITS } from '../limits';
import type { StepSpec } from '../spec';
import type { RunOutcome, StepKind } from '../step-kind';

const POLLING_FIELDS = ['initialIntervalMs', 'multiplier', 'maxIntervalMs'] as const;

export const predictionStep: StepKind = {
  name: 'prediction',
  fields: ['model', 'deployment', 'input', 'count', 'foreach', 'timeout', 'polling', 'cache'],
  cacheable: true,
  matches: () => true,

  validate(raw, path, step, defaults, err) {
    checkTarget(raw, path, step, err);
    checkInput(raw, path, step, err);
    checkFanOut(raw, path, step, err);
    step.timeout = checkTimeout(raw.timeout, `${path}.timeout`, defaults.stepTimeout, err);
    checkPolling(raw.polling, `${path}.polling`, step, err);
    if (raw.cache !== undefined) {
      if (typeof raw.cache === 'boolean') step.cache = raw.cache;
      else err(`${path}.cache`, describeCache(raw.cache));
    }
  },

  models: (step) => [step.model ?? step.deployment].filter((m): m is string => m !== undefined),

  expand: expandStep,

  request: (step, run) => ({
    model: step.model ?? `deployments/${step.deployment!}`,
    input: run.input,
    index: run.index,
  }),

  async run(rt, spec, name, runs) {
    const step = spec.steps[name]!;
    const fannedOut = isFannedOut(step);
    return Promise.all(
      runs.map((r): Promise<RunOutcome> =>
        rt
          .predict({
            index: r.index,
            model: step.model ?? step.deployment!,
            deployment: step.deployment !== undefined,
            input: r.input,
            ...(step.polling ? { polling: step.polling } : {}),
            fannedOut,
            label: `${name}${runs.length > 1 || fannedOut ? ` [${r.index}]` : ''}: ${step.model ?? step.deployment}`,
          })
          .then(
            (result) => ({ index: r.index, result }),
            (error: unknown) => ({ index: r.index, error }),
          ),
      ),
    );
  },

  cost: (spec, step, seconds) => estimateCost(spec.prices, step.model ?? step.deployment ?? '', seconds),
};

/** `model` or `deployment`: exactly one, a reference Replicate can create from. */
function checkTarget(raw: Record<string, unknown>, path: string, step: StepSpec, err: Report): void {
  const hasModel = raw.model !== undefined;
  const hasDeployment = raw.deployment !== undefined;
  if (hasModel && hasDeployment) {
    err(`${path}.deployment`, 'give either model or deployment, not both');
  } else if (!hasModel && !hasDeployment) {
    err(path, 'missing model; give model: owner/name (or deployment: owner/name)');
  } else {
    const field = hasModel ? 'model' : 'deployment';
    const target = parseModelRef(raw[field], !hasModel);
    if (!isCreateTarget(target)) err(`${path}.${field}`, target.error.replace(/^model: /, ''));
    else step[field] = raw[field] as string;
  }
}

function checkInput(raw: Record<string, unknown>, path: string, step: StepSpec, err: Report): void {
  if (raw.input === undefined || raw.input === null) return;
  if (!isPlainObject(raw.input)) {
    err(`${path}.input`, `must be a mapping of the model's input fields, got ${describeType(raw.input)}`);
    return;
  }
  step.input = cloneData(raw.input) as Record<string, unknown>;
  const size = new TextEncoder().encode(JSON.stringify(raw.input)).length;
  if (size > MAX_INPUT_BYTES) {
    err(
      `${path}.input`,
      `${size} bytes of JSON is over the ${MAX_INPUT_BYTES}-byte limit; pass large files as URLs`,
    );
  }
}

function checkFanOut(raw: Record<string, unknown>, path: string, step: StepSpec, err: Report): void {
  if (raw.count !== undefined) {
    const c = raw.count;
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 1 || c > PIPELINE_LIMITS.maxCount) {
      err(
        `${path}.count`,
        `must be a whole number from 1 to ${PIPELINE_LIMITS.maxCount}, got ${describeValue(c)}`,
      );
    } else if (raw.foreach !== undefined) {
      err(`${path}.count`, 'count and foreach cannot be combined; use one of them to fan out a step');
    } else {
      step.count = c;
    }
  }
  if (raw.foreach !== undefined) {
    if (typeof raw.foreach !== 'string') {
      err(
        `${path}.foreach`,
        `must be one template such as "{{ steps.generate.outputs }}", got ${describeType(raw.foreach)}`,
      );
    } else {
      step.foreach = raw.foreach;
    }
  }
}

function checkPolling(p: unknown, path: string, step: StepSpec, err: Report): void {
  if (p === undefined) return;
  if (!isPlainObject(p)) {
    err(path, 'must be a mapping {initialIntervalMs, multiplier, maxIntervalMs}');
    return;
  }
  checkUnknownFields(p, `${path}.`, POLLING_FIELDS, err);
  const { minIntervalMs, maxIntervalMs, maxMultiplier } = POLLING_BOUNDS;
  const ok = [
    checkRange(p.initialIntervalMs, `${path}.initialIntervalMs`, minIntervalMs, maxIntervalMs, err),
    checkRange(p.multiplier, `${path}.multiplier`, 1, maxMultiplier, err),
    checkRange(p.maxIntervalMs, `${path}.maxIntervalMs`, minIntervalMs, maxIntervalMs, err),
  ].every(Boolean);
  if (
    typeof p.initialIntervalMs === 'number' &&
    typeof p.maxIntervalMs === 'number' &&
    p.maxIntervalMs < p.initialIntervalMs
  ) {
    err(`${path}.maxIntervalMs`, 'must be at least polling.initialIntervalMs');
  } else if (ok) {
    step.polling = {};
    for (const f of POLLING_FIELDS) if (typeof p[f] === 'number') step.polling[f] = p[f];
  }
}
