/** Small helpers shared by the chaos suite. */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `12.3s`, `4m05s` */
export function fmtDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
}

/** Run `fn` over `items` with at most `limit` calls in flight. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(lanes);
  return out;
}

/** Retry `fn` up to `attempts` times, `delayMs` apart; rethrows the last error (or the one `isFatal` accepts). */
export async function retry<T>(
  attempts: number,
  delayMs: number,
  fn: () => Promise<T>,
  isFatal: (error: unknown) => boolean = () => false,
): Promise<T> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await fn();
    } catch (error) {
      if (isFatal(error)) throw error;
      last = error;
      if (i < attempts - 1) await sleep(delayMs);
    }
  }
  throw last;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
