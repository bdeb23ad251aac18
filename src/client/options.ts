/** Options shared by the start helpers: the ceiling and the workflow id, checked before anything is sent. */
import { randomBytes } from 'node:crypto';
import { CEILING_RANGE_MS } from '../shared/ceiling';
import { parseDuration } from '../shared/duration';

export { CEILING_RANGE_MS };
import { workflowIdProblem } from '../shared/ids';

/**
 * A ceiling in milliseconds from `timeout` (milliseconds, or a duration such as `'10m'` or `'1h30m'`), or
 * `fallback` when it is undefined. Throws a RangeError (its message names the problem, not the option) when it is
 * not a duration or is outside 10 s to 168 h.
 */
export function ceilingMs(timeout: number | string | undefined, fallback: number | string): number {
  const value = timeout ?? fallback;
  let ms: number;
  if (typeof value === 'number') ms = value;
  else {
    const parsed = parseDuration(value);
    if ('error' in parsed) throw new RangeError(parsed.error);
    ms = parsed.ms;
  }
  if (!Number.isFinite(ms) || ms < CEILING_RANGE_MS.min || ms > CEILING_RANGE_MS.max)
    throw new RangeError(`${value} is out of range; use 10s to 168h`);
  return ms;
}

/** `id` when given (a TypeError when Temporal would refuse it), else `<prefix>-<random>`. */
export function workflowIdOr(id: string | undefined, prefix: string, option = 'workflowId'): string {
  if (id === undefined) return newWorkflowId(prefix);
  const problem = workflowIdProblem(id, option);
  if (problem) throw new TypeError(problem);
  return id;
}

/** `<prefix>-<8 random hex digits>` */
export const newWorkflowId = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

/** A model reference as a workflow id part: `owner/name:version` -> `owner-name`. */
export function slug(model: string): string {
  return model
    .replace(/:.*/, '')
    .replace(/[^a-zA-Z0-9]+/g, '-')
    .slice(0, 60);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
