/** The loop behind watchPrediction and watchPipeline: read a query every interval until the run closes. */
import type { WorkflowHandle } from '@temporalio/client';
import { pause } from './options';

/** How a watch polls: `intervalMs` between reads (default 1000); `signal` ends it early. */
export interface WatchOptions {
  /** time between two reads of the run's query, ms (default 1000) */
  intervalMs?: number;
  /** aborting it ends the iteration at once (nothing more is yielded; calls in flight are canceled) */
  signal?: AbortSignal;
}

/**
 * Yield `read()` every `intervalMs` (reads that answer null are skipped) until a value `isFinal`, the run closes
 * (one last read is yielded then; whether it closed is asked at most once a second) or `signal` aborts. Every call
 * is made under an abort signal, so none is left in flight once the iteration ends.
 */
export async function* pollUntilClosed<T>(
  handle: WorkflowHandle,
  read: () => Promise<T | null>,
  isFinal: (value: T) => boolean,
  { intervalMs = 1000, signal }: WatchOptions,
): AsyncGenerator<T, void, undefined> {
  const stop = new AbortController();
  const abort = () => stop.abort();
  signal?.addEventListener('abort', abort, { once: true });
  if (signal?.aborted) stop.abort();
  // one signal per call: the SDK adds an abort listener per call and never removes it
  const cancelable = async <R>(fn: () => Promise<R>): Promise<R> => {
    const call = new AbortController();
    const cancel = () => call.abort();
    stop.signal.addEventListener('abort', cancel, { once: true });
    try {
      return await handle.client.withAbortSignal(call.signal, fn);
    } finally {
      stop.signal.removeEventListener('abort', cancel);
    }
  };
  let checkedAt = 0;
  const closed = async (): Promise<boolean> => {
    if (Date.now() - checkedAt < Math.max(intervalMs, 1000)) return false;
    checkedAt = Date.now();
    return cancelable(() => handle.client.withDeadline(Date.now() + 2_000, () => handle.describe())).then(
      (description) => description.status.name !== 'RUNNING',
      () => false,
    );
  };
  try {
    while (!stop.signal.aborted) {
      const wasClosed = await closed(); // asked before the read, so that read sees the final state
      if (stop.signal.aborted) return;
      let value = await cancelable(read).catch(() => null);
      // Once the run has closed, its final state is worth a few more tries: a closed run's query is answered by
      // replaying its whole history, which a busy worker may not finish within one read's deadline.
      for (let retry = 0; wasClosed && value === null && retry < 3 && !stop.signal.aborted; retry++) {
        await pause(intervalMs, stop.signal);
        value = await cancelable(read).catch(() => null);
      }
      if (stop.signal.aborted) return;
      if (value !== null) {
        yield value;
        if (isFinal(value)) return;
      }
      if (wasClosed) return;
      await pause(intervalMs, stop.signal);
    }
  } finally {
    signal?.removeEventListener('abort', abort);
    stop.abort();
  }
}
