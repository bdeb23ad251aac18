/** Field checks that the spec's validation and every step kind share: unknown fields, durations, ranges. */
import { PIPELINE_TIMEOUT_RANGE_MS } from '../ceiling';
import { parseDuration } from '../duration';
import { closest, describeValue, type Report } from './helpers';

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

/** The message for a `cache` that is not true or false. */
export function describeCache(value: unknown): string {
  return `must be true or false, got ${describeValue(value)}`;
}

export function checkRange(value: unknown, path: string, min: number, max: number, err: Report): boolean {
  if (value === undefined) return true;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    err(path, `must be a number from ${min} to ${max}, got ${describeValue(value)}`);
    return false;
  }
  return true;
}
