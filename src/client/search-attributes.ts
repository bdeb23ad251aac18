/** Registering our search attributes from a client (workers do it at start; a fresh namespace has none). */
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
