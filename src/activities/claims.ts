/**
 * The claim-check store: large outputs as files named by their sha256, under one folder shared by the workers and
 * the CLI (by default `OUTPUT_DIR/.claims`). A reference only ever names a file by its hash, so a hostile
 * reference cannot point outside the folder.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isClaimRef, type ClaimRef } from '../shared/claims';

export interface ClaimStore {
  put(value: unknown): Promise<ClaimRef>;
  get(ref: ClaimRef): Promise<unknown>;
}

export function fileClaimStore(dir: string): ClaimStore {
  const fileOf = (ref: ClaimRef) => path.join(dir, `${ref.$claim.slice('sha256:'.length)}.json`);
  return {
    async put(value) {
      const json = JSON.stringify(value ?? null);
      const hash = createHash('sha256').update(json).digest('hex');
      const ref: ClaimRef = {
        $claim: `sha256:${hash}`,
        bytes: Buffer.byteLength(json),
        note: 'output too large for a Temporal payload; stored out of band (the CLI prints it whole)',
      };
      await mkdir(dir, { recursive: true });
      const partial = `${fileOf(ref)}.${process.pid}.part`;
      await writeFile(partial, json);
      await rename(partial, fileOf(ref)); // atomic: readers never see half a file
      return ref;
    },
    async get(ref) {
      if (!isClaimRef(ref)) throw new Error('not a claim reference');
      const json = await readFile(fileOf(ref), 'utf8');
      if (`sha256:${createHash('sha256').update(json).digest('hex')}` !== ref.$claim)
        throw new Error(`claim ${ref.$claim} does not match its stored content`);
      return JSON.parse(json) as unknown;
    },
  };
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
