/** Validating one step's own fields (model or deployment, input, fan-out, timeout, needs, polling), and field checks. */
import { PIPELINE_TIMEOUT_RANGE_MS } from '../ceiling';
import { POLLING_BOUNDS } from '../polling';
import { parseDuration } from '../duration';
import { isCreateTarget, parseModelRef } from '../model-ref';
import { MAX_INPUT_BYTES } from '../validate';
import {
  cloneData,
  closest,
  describeType,
  describeValue,
  isPlainObject,
  unknownStep,
  type Report,
} from './helpers';
import { PIPELINE_LIMITS } from './limits';
import type { StepSpec } from './spec';

const STEP_FIELDS = [
  'model',
  'deployment',
  'input',
  'count',
  'foreach',
  'timeout',
  'needs',
  'polling',
] as const;
const POLLING_FIELDS = ['initialIntervalMs', 'multiplier', 'maxIntervalMs'] as const;

/** Report every key of `obj` not in `known`, with a "did you mean" when one is close. */
export function checkUnknownFields(
  obj: Record<string, unknown>,
  prefix: string,
  known: readonly string[],
  err: Report,
): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const suggestion = closest(key, known);
    err(
      prefix + key,
      `unknown field '${key}'; expected one of ${known.join(', ')}${suggestion ? ` (did you mean '${suggestion}'?)` : ''}`,
    );
  }
}

/** A duration field from 10s to 24h; `fallback` when absent. */
export function checkTimeout(value: unknown, path: string, fallback: string, err: Report): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string') {
    err(path, `must be a duration such as 5m or 1h30m, got ${describeValue(value)}`);
    return fallback;
  }
  const d = parseDuration(value);
  if ('error' in d) {
    err(path, d.error);
  } else if (d.ms < PIPELINE_TIMEOUT_RANGE_MS.min || d.ms > PIPELINE_TIMEOUT_RANGE_MS.max) {
    err(path, `"${value}" is out of range; a timeout is from 10s to 24h`);
  }
  return value;
}

/** The step's own fields (everything but templates); undefined when it is not a mapping at all. */
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
  checkUnknownFields(rawStep, `${path}.`, STEP_FIELDS, err);
  const step: StepSpec = { input: {} };

  // model / deployment
  const hasModel = rawStep.model !== undefined;
  const hasDeployment = rawStep.deployment !== undefined;
  if (hasModel && hasDeployment) {
    err(`${path}.deployment`, 'give either model or deployment, not both');
  } else if (!hasModel && !hasDeployment) {
    err(path, 'missing model; give model: owner/name (or deployment: owner/name)');
  } else {
    const field = hasModel ? 'model' : 'deployment';
    const target = parseModelRef(rawStep[field], !hasModel);
    if (!isCreateTarget(target)) err(`${path}.${field}`, target.error.replace(/^model: /, ''));
    else step[field] = rawStep[field] as string;
  }

  // input
  if (rawStep.input !== undefined && rawStep.input !== null) {
    if (!isPlainObject(rawStep.input)) {
      err(
        `${path}.input`,
        `must be a mapping of the model's input fields, got ${describeType(rawStep.input)}`,
      );
    } else {
      step.input = cloneData(rawStep.input) as Record<string, unknown>;
      const size = new TextEncoder().encode(JSON.stringify(rawStep.input)).length;
      if (size > MAX_INPUT_BYTES) {
        err(
          `${path}.input`,
          `${size} bytes of JSON is over the ${MAX_INPUT_BYTES}-byte limit; pass large files as URLs`,
        );
      }
    }
  }

  // count / foreach
  if (rawStep.count !== undefined) {
    const c = rawStep.count;
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 1 || c > PIPELINE_LIMITS.maxCount) {
      err(
        `${path}.count`,
        `must be a whole number from 1 to ${PIPELINE_LIMITS.maxCount}, got ${describeValue(c)}`,
      );
    } else if (rawStep.foreach !== undefined) {
      err(`${path}.count`, 'count and foreach cannot be combined; use one of them to fan out a step');
    } else {
      step.count = c;
    }
  }
  if (rawStep.foreach !== undefined) {
    if (typeof rawStep.foreach !== 'string') {
      err(
        `${path}.foreach`,
        `must be one template such as "{{ steps.generate.outputs }}", got ${describeType(rawStep.foreach)}`,
      );
    } else {
      step.foreach = rawStep.foreach;
    }
  }

  // timeout
  step.timeout = checkTimeout(rawStep.timeout, `${path}.timeout`, stepTimeout, err);

  // needs
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

  // polling
  const p = rawStep.polling;
  if (p !== undefined) {
    if (!isPlainObject(p)) {
      err(`${path}.polling`, 'must be a mapping {initialIntervalMs, multiplier, maxIntervalMs}');
    } else {
      checkUnknownFields(p, `${path}.polling.`, POLLING_FIELDS, err);
      const checks = [
        checkRange(
          p.initialIntervalMs,
          `${path}.polling.initialIntervalMs`,
          POLLING_BOUNDS.minIntervalMs,
          POLLING_BOUNDS.maxIntervalMs,
          err,
        ),
        checkRange(p.multiplier, `${path}.polling.multiplier`, 1, POLLING_BOUNDS.maxMultiplier, err),
        checkRange(
          p.maxIntervalMs,
          `${path}.polling.maxIntervalMs`,
          POLLING_BOUNDS.minIntervalMs,
          POLLING_BOUNDS.maxIntervalMs,
          err,
        ),
      ];
      const ok = checks.every(Boolean);
      if (
        typeof p.initialIntervalMs === 'number' &&
        typeof p.maxIntervalMs === 'number' &&
        p.maxIntervalMs < p.initialIntervalMs
      ) {
        err(`${path}.polling.maxIntervalMs`, 'must be at least polling.initialIntervalMs');
      } else if (ok) {
        step.polling = {};
        for (const f of POLLING_FIELDS) if (typeof p[f] === 'number') step.polling[f] = p[f];
      }
    }
  }
  return step;
}

function checkRange(value: unknown, path: string, min: number, max: number, err: Report): boolean {
  if (value === undefined) return true;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    err(path, `must be a number from ${min} to ${max}, got ${describeValue(value)}`);
    return false;
  }
  return true;
}
