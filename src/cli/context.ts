/** What a command needs from its surroundings: a client, where to print, Ctrl-C. Tests pass their own. */
import type { Client } from '@temporalio/client';
import type { ClaimKey, ClaimStore } from '../activities/claims';

export interface CliContext {
  /** lazily connected Temporal client */
  client: () => Promise<Client>;
  taskQueue: string;
  out: (line: string) => void;
  err: (line: string) => void;
  /** reads `--input @file.json` */
  readFile?: (path: string) => string;
  /** how long a waiting command gives the run before it checks that a worker polls its task queue (15 s) */
  noWorkerWarningMs?: number;
  /** aborted on Ctrl-C: a waiting command stops watching and says how to reattach (the run continues) */
  signal?: AbortSignal;
  /** on a terminal: show `line` as the one live status line, replacing the previous one; null clears it */
  live?: (line: string | null) => void;
  /** where the workers keep outputs too large for Temporal (claim checks; OUTPUT_DIR/.claims): printed whole */
  claims?: ClaimStore;
  /** the fleet's claim key (from REPLICATE_API_TOKEN when set): only references the workers signed are printed whole */
  claimKey?: ClaimKey;
  /** the environment `codec-server` reads its settings from (default process.env) */
  env?: Record<string, string | undefined>;
}

/** For a command that serves until Ctrl-C (`web`, `codec-server`): resolves when `signal` aborts; never without one. */
export function untilInterrupted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!signal) return; // runs until the process ends
    if (signal.aborted) resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
