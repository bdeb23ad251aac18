/** Validation of a `PredictionRequest`, shared by the CLI (fast feedback) and the workflow (last line of defence). */
import { DEFAULT_POLLING, POLLING_BOUNDS } from './polling';
import { budgetProblems } from './budget';
import { MAX_INPUT_DEPTH, tooDeep, tooDeepMessage } from './depth';
import { parseModelRef, isCreateTarget } from './model-ref';
import type { PredictionRequest } from './types';

/** Largest model input we accept, as JSON. Temporal payloads are limited to 2 MB; big files belong in URLs. */
export const MAX_INPUT_BYTES = 1_000_000;

/** Every problem with `request`, each naming the field and the fix. Empty when the request is valid. */
export function validateRequest(request: unknown): string[] {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) {
    return ['request: must be an object {model, input, ...}'];
  }
  const r = request as Partial<PredictionRequest>;
  // First, before anything walks it: the input may nest MAX_INPUT_DEPTH levels, every other field far less.
  const deep = tooDeep(r.input, MAX_INPUT_DEPTH, 'input') ?? tooDeep(request, MAX_INPUT_DEPTH + 1, '');
  if (deep) return [tooDeepMessage(deep)];
  const problems: string[] = [];
  for (const flag of ['deployment', 'searchAttributes', 'reportStartToParent'] as const) {
    if (r[flag] !== undefined && typeof r[flag] !== 'boolean')
      problems.push(`${flag}: must be true or false`);
  }
  const target = parseModelRef(r.model, r.deployment === true);
  if (!isCreateTarget(target)) problems.push(target.error);

  if (typeof r.input !== 'object' || r.input === null || Array.isArray(r.input)) {
    problems.push(`input: must be a JSON object such as {"prompt": "..."}, got ${describe(r.input)}`);
  } else {
    const size = new TextEncoder().encode(JSON.stringify(r.input)).length;
    if (size > MAX_INPUT_BYTES) {
      problems.push(
        `input: ${size} bytes of JSON is over the ${MAX_INPUT_BYTES}-byte limit; pass large files as URLs`,
      );
    }
  }

  const p = r.polling;
  if (p !== undefined) {
    if (typeof p !== 'object' || p === null || Array.isArray(p)) {
      problems.push('polling: must be an object {initialIntervalMs, multiplier, maxIntervalMs, predictive}');
    } else {
      checkNumber(
        problems,
        'polling.initialIntervalMs',
        p.initialIntervalMs,
        POLLING_BOUNDS.minIntervalMs,
        POLLING_BOUNDS.maxIntervalMs,
      );
      checkNumber(problems, 'polling.multiplier', p.multiplier, 1, POLLING_BOUNDS.maxMultiplier);
      checkNumber(
        problems,
        'polling.maxIntervalMs',
        p.maxIntervalMs,
        POLLING_BOUNDS.minIntervalMs,
        POLLING_BOUNDS.maxIntervalMs,
      );
      if (p.predictive !== undefined && typeof p.predictive !== 'boolean')
        problems.push(`polling.predictive: must be true or false, got ${describe(p.predictive)}`);
      const initial = p.initialIntervalMs ?? DEFAULT_POLLING.initialIntervalMs;
      if (typeof initial === 'number' && typeof p.maxIntervalMs === 'number' && p.maxIntervalMs < initial) {
        problems.push(
          `polling.maxIntervalMs: must be at least polling.initialIntervalMs (${initial}${p.initialIntervalMs === undefined ? ', the default' : ''})`,
        );
      }
    }
  }
  checkNumber(problems, 'deadlineMarginMs', r.deadlineMarginMs, 0, 3_600_000);
  checkNumber(problems, 'maxPollsPerRun', r.maxPollsPerRun, 1, 10_000);
  checkNumber(problems, 'lateCommitWindowMs', r.lateCommitWindowMs, 30_000, 3_600_000);
  if (typeof r.maxPollsPerRun === 'number' && !Number.isInteger(r.maxPollsPerRun)) {
    problems.push('maxPollsPerRun: must be a whole number');
  }
  checkNumber(problems, 'concurrencyLimit', r.concurrencyLimit, 1, 10_000);
  if (typeof r.concurrencyLimit === 'number' && !Number.isInteger(r.concurrencyLimit)) {
    problems.push('concurrencyLimit: must be a whole number (runs of this model at once), or unset');
  }
  problems.push(...budgetProblems(r));
  return problems;
}

/** Problems with a `TrainingRequest`: the prediction checks plus a version and a destination. */
export function validateTrainingRequest(request: unknown): string[] {
  const problems = validateRequest(request);
  if (typeof request !== 'object' || request === null) return problems;
  const r = request as { model?: unknown; destination?: unknown };
  if (typeof r.model === 'string' && !/:[a-f0-9]{64}$/.test(r.model)) {
    problems.push(`model: "${r.model}" must name a version to train, as owner/name:<64-hex version>`);
  }
  if (
    typeof r.destination !== 'string' ||
    !/^[a-zA-Z0-9][a-zA-Z0-9._-]*\/[a-zA-Z0-9][a-zA-Z0-9._-]*$/.test(r.destination)
  ) {
    problems.push('destination: must be the owner/name of the model that receives the trained version');
  }
  return problems;
}

function checkNumber(problems: string[], field: string, value: unknown, min: number, max: number): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    problems.push(`${field}: must be a number from ${min} to ${max}, got ${describe(value)}`);
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const json = JSON.stringify(value);
  return json && json.length <= 40 ? json : typeof value;
}
