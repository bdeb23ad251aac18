/**
 * Our search attributes on the client's namespace. Runs upsert them, and on a namespace without them every
 * workflow task of such a run fails (BadSearchAttributes) and the run waits forever; so the start helpers make
 * sure they exist first, and start runs without them when the server will not register them.
 */
import type { Client } from '@temporalio/client';
import { ensureSearchAttributes } from './temporal-setup';

/**
 * Register the `Replicate*` search attributes the workflows upsert on the client's namespace, when missing
 * (idempotent). Returns the names it registered. Throws with a one-line fix when the server refuses (e.g. no
 * operator permission); runs started with `searchAttributes: false` do not need them.
 */
export async function registerSearchAttributes(client: Client): Promise<string[]> {
  return ensureSearchAttributes(client.connection, client.options.namespace);
}

/** Once per client: null when the namespace has our search attributes (registered if need be), else why not. */
interface Check {
  problem: Promise<string | null>;
  warned: boolean;
}
const checks = new WeakMap<Client, Check>();

/**
 * Whether a run started through `client` may set our search attributes: they are registered first when missing
 * (once per client). When the server refuses, `onWarning` hears why, once per client, and the answer is false:
 * the run then starts with `searchAttributes: false` (it works, but cannot be filtered by them in the UI).
 */
export async function searchAttributesUsable(
  client: Client,
  onWarning: (message: string) => void = nodeWarning,
): Promise<boolean> {
  let check = checks.get(client);
  if (!check) {
    check = {
      problem: registerSearchAttributes(client).then(
        () => null,
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      ),
      warned: false,
    };
    checks.set(client, check);
  }
  const problem = await check.problem;
  if (problem !== null && !check.warned) {
    check.warned = true;
    onWarning(`${problem}; starting runs without them meanwhile (not filterable by Replicate* in the UI)`);
  }
  return problem === null;
}

/** A library's warning in Node: printed once to stderr unless the app handles or silences warnings. */
function nodeWarning(message: string): void {
  process.emitWarning(message, { code: 'REPLICATE_TEMPORAL_SEARCH_ATTRIBUTES' });
}
