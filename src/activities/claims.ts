/**
 * The claim-check store: large outputs as JSON objects named by their sha256, in the output store shared by the
 * workers and the CLI (`.claims/` in OUTPUT_DIR, or under OUTPUT_URL's bucket and prefix). A reference only ever
 * names an object by its hash, so a hostile reference cannot point outside the store.
 *
 * Provenance: a reference the worker places carries an HMAC (`sig`) over its hash and size, keyed from the
 * Replicate token every worker of the fleet has (HKDF, a fixed label: the key never leaves the process, and the
 * signature reveals nothing of the token). Only signed references are expanded: a `{"$claim": …}` in a user's
 * input or a model's output is data, passed on as it is.
 */
import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { claimSigningText, isClaimRef, jsonBytes, type ClaimRef } from '../shared/claims';
import { MAX_INPUT_DEPTH, tooDeep, tooDeepMessage } from '../shared/depth';
import { flattenOutputs } from '../shared/pipeline';
import { MAX_INPUT_BYTES } from '../shared/validate';
import { localOutputStore, OutputStoreError, readAll, type OutputStore } from './output-files/store';

export interface ClaimStore {
  put(value: unknown): Promise<ClaimRef>;
  get(ref: ClaimRef): Promise<unknown>;
}

/** The key that signs and verifies a fleet's claim references. */
export type ClaimKey = Uint8Array;

const SIGNATURE_PREFIX = 'hmac-sha256:';

/** The fleet's claim key, derived from a secret every worker has (the Replicate token). */
export function claimKey(secret: string): ClaimKey {
  return new Uint8Array(hkdfSync('sha256', secret, '', 'replicate-temporal claim references v1', 32));
}

function signatureOf(ref: Pick<ClaimRef, '$claim' | 'bytes'>, key: ClaimKey): string {
  return createHmac('sha256', key).update(claimSigningText(ref)).digest('hex');
}

/** `ref` with the fleet's signature: what the worker puts in a workflow result. */
export function signClaim(ref: ClaimRef, key: ClaimKey): ClaimRef {
  return { ...ref, sig: `${SIGNATURE_PREFIX}${signatureOf(ref, key)}` };
}

/** Whether a reference was signed with `key`: 'valid', 'missing' (plain data) or 'invalid' (another key, altered). */
export function claimSignature(ref: ClaimRef, key: ClaimKey): 'valid' | 'missing' | 'invalid' {
  if (ref.sig === undefined) return 'missing';
  if (typeof ref.sig !== 'string' || !ref.sig.startsWith(SIGNATURE_PREFIX)) return 'invalid';
  if (!Number.isSafeInteger(ref.bytes) || ref.bytes < 0) return 'invalid';
  const given = Buffer.from(ref.sig.slice(SIGNATURE_PREFIX.length), 'hex');
  const expected = Buffer.from(signatureOf(ref, key), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected) ? 'valid' : 'invalid';
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

/**
 * Why references cannot be expanded: a signature that is not the fleet's, a result over the size or depth limit,
 * a claim no longer in the store. Retrying cannot help (a failure of the store itself is thrown as it is).
 */
export class ClaimResolutionError extends Error {
  override name = 'ClaimResolutionError';
}

export interface ResolveClaimsOptions {
  /** the fleet's key (claimKey(token)): only references it signed are expanded */
  key: ClaimKey;
  /** the expanded value's JSON may be at most this many bytes (default MAX_INPUT_BYTES, the input limit) */
  maxBytes?: number;
  /** and nest at most this many levels (default MAX_INPUT_DEPTH) */
  maxDepth?: number;
  /** names the value in messages (default `input`) */
  name?: string;
}

/**
 * `value` with every reference the fleet signed (at any depth) replaced by the stored value; unsigned ones stay
 * as the data they are. Each claim is read once, and the expanded size is computed from the signed sizes before
 * anything is read: an input that would grow past `maxBytes` is refused at once.
 */
export async function resolveClaims(
  value: unknown,
  store: ClaimStore,
  options: ResolveClaimsOptions,
): Promise<unknown> {
  const { key, maxBytes = MAX_INPUT_BYTES, maxDepth = MAX_INPUT_DEPTH, name = 'input' } = options;
  const deep = tooDeep(value, maxDepth, name);
  if (deep) throw new ClaimResolutionError(tooDeepMessage(deep));
  const signed: ClaimRef[] = [];
  collectSigned(value, key, signed); // recursion bounded by the depth check above
  if (signed.length === 0) return value;
  const expandedBytes = signed.reduce((total, ref) => total + ref.bytes - jsonBytes(ref), jsonBytes(value));
  if (expandedBytes > maxBytes) {
    throw new ClaimResolutionError(
      `${name}: with its ${signed.length} claim reference(s) expanded it would be ${expandedBytes.toLocaleString('en-US')} bytes of JSON, over the ${maxBytes}-byte input limit; pass large data as URLs`,
    );
  }
  const values = new Map<string, Promise<unknown>>();
  for (const ref of signed) if (!values.has(ref.$claim)) values.set(ref.$claim, read(store, ref));
  const resolved = new Map<string, unknown>();
  for (const [hash, pending] of values) resolved.set(hash, await pending);
  const result = substitute(value, key, resolved);
  const tooDeepAfter = tooDeep(result, maxDepth, name);
  if (tooDeepAfter)
    throw new ClaimResolutionError(`with its claim references expanded, ${tooDeepMessage(tooDeepAfter)}`);
  return result;
}

/**
 * A run's output for display or persistence: the stored value when the output is itself a reference (the only
 * place a worker puts one), else the output as it is. With `key`, only a reference the fleet signed is read.
 */
export async function readOutputClaim(output: unknown, store: ClaimStore, key?: ClaimKey): Promise<unknown> {
  if (!isClaimRef(output)) return output;
  if (key !== undefined && claimSignature(output, key) !== 'valid') return output;
  return read(store, output);
}

function collectSigned(value: unknown, key: ClaimKey, into: ClaimRef[]): void {
  if (typeof value !== 'object' || value === null) return;
  if (isClaimRef(value)) {
    const signature = claimSignature(value, key);
    if (signature === 'valid') return void into.push(value);
    if (signature === 'invalid')
      throw new ClaimResolutionError(
        `claim reference ${value.$claim} is not signed by this fleet's key (altered, or stored by workers with another REPLICATE_API_TOKEN); rerun the step that produced it`,
      );
    // 'missing': data that looks like a reference; it is passed on as it is
  }
  for (const child of Array.isArray(value) ? value : Object.values(value)) collectSigned(child, key, into);
}

function substitute(value: unknown, key: ClaimKey, resolved: Map<string, unknown>): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (isClaimRef(value) && claimSignature(value, key) === 'valid') return resolved.get(value.$claim);
  if (Array.isArray(value)) return value.map((v) => substitute(v, key, resolved));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, key, resolved)]));
}

async function read(store: ClaimStore, ref: ClaimRef): Promise<unknown> {
  try {
    return await store.get(ref);
  } catch (error) {
    if (error instanceof OutputStoreError) throw error; // the store did not answer: worth a retry
    throw new ClaimResolutionError(`${(error as Error).message}; rerun the step that produced it`);
  }
}

/**
 * A pipeline report's step outputs with their claim references read back: one marked `flatten` stands for the
 * elements its value flattens to, as the report would have listed them inline. A reference that cannot be read
 * (another machine's folder, a deleted object) stays as it is; with `key`, so does one the fleet did not sign.
 */
export async function resolveReportOutputs(
  outputs: unknown[],
  store: ClaimStore,
  key?: ClaimKey,
): Promise<unknown[]> {
  const parts = await Promise.all(
    outputs.map(async (output): Promise<unknown[]> => {
      if (!isClaimRef(output)) return [output];
      if (key !== undefined && claimSignature(output, key) !== 'valid') return [output];
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
