/**
 * The claim-check store: large outputs as JSON objects named by their sha256, in the output store shared by the
 * workers and the CLI (`.claims/` in OUTPUT_DIR, or under OUTPUT_URL's bucket and prefix). A reference only ever
 * names an object by its hash, so a hostile reference cannot point outside the store.
 */
import { createHash } from 'node:crypto';
import { isClaimRef, type ClaimRef } from '../shared/claims';
import { flattenOutputs } from '../shared/pipeline';
import { localOutputStore, readAll, type OutputStore } from './output-files/store';

export interface ClaimStore {
  put(value: unknown): Promise<ClaimRef>;
  get(ref: ClaimRef): Promise<unknown>;
}

/** Claim checks as `<folder>/<sha256>.json` in an output store (default folder `.claims`; '' = its root). */
export function storeClaimStore(store: OutputStore, folder = '.claims'): ClaimStore {
  const keyOf = (ref: ClaimRef) => `${folder ? `${folder}/` : ''}${ref.$claim.slice('sha256:'.length)}.json`;
  return {
    async put(value) {
      const json = JSON.stringify(value ?? null);
      const hash = createHash('sha256').update(json).digest('hex');
      const ref: ClaimRef = {
        $claim: `sha256:${hash}`,
        bytes: Buffer.byteLength(json),
        note: 'output too large for a Temporal payload; stored out of band (the CLI prints it whole)',
      };
      // content-addressed and written whole or not at all: a retried or concurrent put writes the same object
      await store.write(keyOf(ref), json, { contentType: 'application/json' });
      return ref;
    },
    async get(ref) {
      if (!isClaimRef(ref)) throw new Error('not a claim reference');
      const data = await readAll(store, keyOf(ref));
      if (data === null) throw new Error(`claim ${ref.$claim} is not in ${store.location}`);
      const json = data.toString('utf8');
      if (`sha256:${createHash('sha256').update(json).digest('hex')}` !== ref.$claim)
        throw new Error(`claim ${ref.$claim} does not match its stored content`);
      return JSON.parse(json) as unknown;
    },
  };
}

/** Claim checks as `<dir>/<sha256>.json` files (e.g. `OUTPUT_DIR/.claims`). */
export function fileClaimStore(dir: string): ClaimStore {
  return storeClaimStore(localOutputStore(dir), '');
}

/** `value` with every claim reference in it (at any depth) replaced by the stored value. */
export async function resolveClaims(value: unknown, store: ClaimStore): Promise<unknown> {
  if (isClaimRef(value)) return store.get(value);
  if (Array.isArray(value)) return Promise.all(value.map((v) => resolveClaims(v, store)));
  if (value && typeof value === 'object') {
    const entries = await Promise.all(
      Object.entries(value).map(async ([k, v]) => [k, await resolveClaims(v, store)] as const),
    );
    return Object.fromEntries(entries);
  }
  return value;
}

/**
 * A pipeline report's step outputs with their claim references read back: one marked `flatten` stands for the
 * elements its value flattens to, as the report would have listed them inline. A reference that cannot be read
 * (another machine's folder, a deleted object) stays as it is.
 */
export async function resolveReportOutputs(outputs: unknown[], store: ClaimStore): Promise<unknown[]> {
  const parts = await Promise.all(
    outputs.map(async (output): Promise<unknown[]> => {
      if (!isClaimRef(output)) return [output];
      let value: unknown;
      try {
        value = await store.get(output);
      } catch {
        return [output];
      }
      return output.flatten ? flattenOutputs([value]) : [value];
    }),
  );
  return parts.flat();
}
