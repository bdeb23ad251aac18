/**
 * Claim checks: a model output too large for Temporal's payloads (2 MB each) is stored out of band by the
 * activity that read it, and workflows carry this small reference instead. Pure: the store, the signature and
 * the resolution are in src/activities/claims.ts; the CLI reads a run's reference back for display.
 */

/** Outputs whose JSON is larger than this travel as a claim reference (default; configurable per worker). */
export const MAX_INLINE_OUTPUT_BYTES = 256 * 1024;

/** What a workflow result carries in place of a large output. */
export interface ClaimRef {
  /** `sha256:<64 hex>` of the stored JSON: content-addressed, so a retried store writes the same file */
  $claim: string;
  /** size of the stored JSON */
  bytes: number;
  /** for a person reading the history */
  note: string;
  /**
   * `hmac-sha256:<64 hex>` over the hash and the size, with a key every worker of the fleet derives from its
   * Replicate token: proof that a worker placed this reference. Only signed references are ever expanded; any
   * other `{"$claim": …}` (in a user's input, in a model's output) is data.
   */
  sig?: string;
}

export function isClaimRef(value: unknown): value is ClaimRef {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    typeof (value as ClaimRef).$claim === 'string' &&
    /^sha256:[0-9a-f]{64}$/.test((value as ClaimRef).$claim)
  );
}

/** What a reference's signature covers: its hash and its size. */
export function claimSigningText(ref: Pick<ClaimRef, '$claim' | 'bytes'>): string {
  return `${ref.$claim}:${ref.bytes}`;
}

/** Size in bytes of `value` as JSON (what a Temporal payload would carry). */
export function jsonBytes(value: unknown): number {
  return new TextEncoder().encode(JSON.stringify(value ?? null)).length;
}
