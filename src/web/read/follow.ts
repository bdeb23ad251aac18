/**
 * Following a workflow without polling it: a long poll on its history (`GetWorkflowExecutionHistory` with
 * `waitNewEvent`, as `temporal workflow show --follow` does). The server answers when a new event is written (or,
 * with nothing new, after its long-poll timeout, about 20 s), so a workflow that does nothing costs one call per
 * ~20 s, and one that changes is heard at once. A workflow's state (what its queries answer) only changes in a
 * workflow task, which writes events: `onChange` is exactly the moment to ask it again.
 */
import type { TemporalReader } from './temporal';

export interface Follow {
  stop(): void;
}

/** A long poll may wait this long for the server (above its own long-poll timeout). */
const LONG_POLL_MS = 40_000;
/** The first pages (the history so far) are read at this size; later answers hold only the new events. */
const PAGE_SIZE = 1_000;

/**
 * Call `onChange` after each batch of new events of `workflowId` (across continue-as-new: the new run's history
 * follows), until the workflow has closed or `stop()`. A failed call is retried after 1 s, with one `onChange`
 * (something may have been missed).
 */
export function followHistory(reader: TemporalReader, workflowId: string, onChange: () => void): Follow {
  const stop = new AbortController();
  const run = async () => {
    let token: Uint8Array | undefined;
    while (!stop.signal.aborted) {
      reader.stats.longPolls++;
      let page;
      // one signal per call: the SDK adds an abort listener to the signal of each call and never removes it
      const call = new AbortController();
      const abort = () => call.abort();
      stop.signal.addEventListener('abort', abort, { once: true });
      try {
        page = await reader.client.withAbortSignal(call.signal, () =>
          reader.client.withDeadline(Date.now() + LONG_POLL_MS, () =>
            reader.client.workflowService.getWorkflowExecutionHistory({
              namespace: reader.namespace,
              execution: { workflowId },
              nextPageToken: token,
              waitNewEvent: true,
              maximumPageSize: PAGE_SIZE,
              skipArchival: true,
            }),
          ),
        );
      } catch (error) {
        stop.signal.removeEventListener('abort', abort);
        if (stop.signal.aborted) return;
        const code = (error as { code?: number }).code;
        if (code === 5) return; // NOT_FOUND: gone
        if (code !== 4) onChange(); // a deadline is only the long poll's end; anything else may hide a change
        await new Promise((r) => setTimeout(r, code === 4 ? 0 : 1_000).unref());
        continue;
      }
      stop.signal.removeEventListener('abort', abort);
      const events = page.history?.events ?? [];
      token = page.nextPageToken && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
      if (events.length > 0) onChange();
      if (token) continue;
      // no token: this run has closed; a continued run goes on in a new run, whose history is followed next
      const last = events.at(-1);
      if (!last?.workflowExecutionContinuedAsNewEventAttributes) return;
    }
  };
  void run();
  return { stop: () => stop.abort() };
}
