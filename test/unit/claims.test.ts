/**
 * Claim references: only those the fleet signed are expanded, each claim is read once, the expanded size is known
 * (from the signed sizes) before anything is read, and a result over the size or depth limit is refused.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ClaimResolutionError,
  claimKey,
  claimSignature,
  fileClaimStore,
  readOutputClaim,
  resolveClaims,
  signClaim,
  type ClaimStore,
} from '../../src/activities/claims';
import type { ClaimRef } from '../../src/shared/claims';

const dir = mkdtempSync(path.join(tmpdir(), 'claims-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const key = claimKey('r8_fleet-token');

/** A store that counts its reads. */
function counting(store: ClaimStore): ClaimStore & { reads: number } {
  const counted = {
    reads: 0,
    put: (value: unknown) => store.put(value),
    get: (ref: ClaimRef) => {
      counted.reads++;
      return store.get(ref);
    },
  };
  return counted;
}

describe('signatures', () => {
  it('are derived from the token, cover the hash and the size, and reveal neither key nor token', async () => {
    const store = fileClaimStore(path.join(dir, 'sig'));
    const ref = signClaim(await store.put({ a: 1 }), key);
    expect(ref.sig).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(ref.sig).not.toContain('r8_fleet-token');
    expect(claimSignature(ref, key)).toBe('valid');
    expect(claimSignature(ref, claimKey('r8_other'))).toBe('invalid');
    expect(claimSignature({ ...ref, bytes: ref.bytes + 1 }, key)).toBe('invalid');
    expect(claimSignature({ ...ref, $claim: `sha256:${'0'.repeat(64)}` }, key)).toBe('invalid');
    const { sig: _sig, ...unsigned } = ref;
    expect(claimSignature(unsigned, key)).toBe('missing');
  });
});

describe('resolveClaims', () => {
  it('expands signed references, reading each claim once; unsigned ones stay data', async () => {
    const store = counting(fileClaimStore(path.join(dir, 'once')));
    const ref = signClaim(await store.put('x'.repeat(1_000)), key);
    const { sig: _sig, ...unsigned } = ref;
    const input = { a: ref, b: [ref, { c: ref }], d: unsigned };
    expect(await resolveClaims(input, store, { key })).toEqual({
      a: 'x'.repeat(1_000),
      b: ['x'.repeat(1_000), { c: 'x'.repeat(1_000) }],
      d: unsigned,
    });
    expect(store.reads).toBe(1);
  });

  it('refuses an expansion past the limit before reading anything, naming the sizes and the limit', async () => {
    const store = counting(fileClaimStore(path.join(dir, 'bound')));
    const ref = signClaim(await store.put('x'.repeat(600_000)), key);
    const input = { items: Array.from({ length: 200 }, () => ref) };
    await expect(resolveClaims(input, store, { key })).rejects.toThrow(ClaimResolutionError);
    await expect(resolveClaims(input, store, { key })).rejects.toThrow(
      /^input: with its 200 claim reference\(s\) expanded it would be 120,0\d\d,\d{3} bytes of JSON, over the 1000000-byte input limit/,
    );
    expect(store.reads).toBe(0);
  });

  it('refuses a reference signed with another key, and one whose claim is gone', async () => {
    const store = fileClaimStore(path.join(dir, 'foreign'));
    const ref = await store.put('v');
    await expect(resolveClaims({ a: signClaim(ref, claimKey('other')) }, store, { key })).rejects.toThrow(
      /is not signed by this fleet's key/,
    );
    const gone = signClaim({ ...ref, $claim: `sha256:${'1'.repeat(64)}` }, key);
    await expect(resolveClaims({ a: gone }, store, { key })).rejects.toThrow(ClaimResolutionError);
  });

  it('refuses an expansion that nests past the input depth', async () => {
    const store = fileClaimStore(path.join(dir, 'deep'));
    const deep = JSON.parse(`${'['.repeat(100)}${']'.repeat(100)}`) as unknown;
    const ref = signClaim(await store.put(deep), key);
    await expect(resolveClaims({ a: ref }, store, { key })).rejects.toThrow(
      /nested more than 64 levels deep/,
    );
  });
});

describe('readOutputClaim (display, persistence)', () => {
  it('reads only a top-level reference, signed when a key is given', async () => {
    const store = counting(fileClaimStore(path.join(dir, 'display')));
    const ref = signClaim(await store.put({ big: true }), key);
    expect(await readOutputClaim(ref, store, key)).toEqual({ big: true });
    expect(await readOutputClaim(ref, store)).toEqual({ big: true }); // the CLI without the token
    expect(await readOutputClaim([ref], store, key)).toEqual([ref]); // never inside an output
    expect(await readOutputClaim(signClaim(ref, claimKey('other')), store, key)).toMatchObject({
      $claim: ref.$claim,
    });
    expect(store.reads).toBe(2);
  });
});
