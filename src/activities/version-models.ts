/**
 * Which limited model a bare version id belongs to. Replicate has no `GET /versions/{id}`: a version is only found
 * under its model, `GET /models/{owner}/{name}/versions/{id}` (docs/replicate-api.md §1), so the worker asks each
 * model it limits (the only ones that matter) and remembers the answer: a version never moves to another model.
 * A failure to ask fails the create attempt before anything was sent (`not-created`): the workflow retries it.
 */
import { redact } from './snapshot';
import { replicateFailure, type ActivitySetup } from './context';
import { ReplicateCallError, replicateCall } from './replicate-client';
import type { VersionModelLookup } from './slots';

/** Versions remembered per worker process (oldest forgotten first). */
const REMEMBERED = 1_000;

export function versionModelLookup(setup: ActivitySetup): VersionModelLookup {
  const known = new Map<string, string | null>();
  return async (version, models) => {
    const cacheKey = `${version} ${models.join(',')}`;
    if (known.has(cacheKey)) return known.get(cacheKey)!;
    let found: string | null = null;
    for (const model of models) {
      if (await isVersionOf(setup, model, version)) {
        found = model;
        break;
      }
    }
    known.set(cacheKey, found);
    if (known.size > REMEMBERED) known.delete(known.keys().next().value!);
    return found;
  };
}

async function isVersionOf(setup: ActivitySetup, model: string, version: string): Promise<boolean> {
  const operation = `get version ${version.slice(0, 12)}… of ${model}`;
  try {
    await replicateCall(setup.config, { operation, timeoutMs: setup.timeouts.getMs }, (client) =>
      client.request(`/models/${model}/versions/${version}`, { method: 'GET' }),
    );
    return true;
  } catch (error) {
    if (!(error instanceof ReplicateCallError)) throw error;
    const c = error.classified;
    if (c.status === 404 || c.status === 403) return false; // not this model's (or not visible to us)
    // only a lookup was sent, no create
    throw replicateFailure(c, redact(c.message, setup.config.token), 'not-created');
  }
}
