/**
 * Claim checks: a model output too large for Temporal's payloads (2 MB each) is stored out of band by the
 * activity that read it, and workflows carry this small reference instead. Pure: the store is in
 * src/activities/claims.ts; the CLI and the activities resolve references back to the value.
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

/** Size in bytes of `value` as JSON (what a Temporal payload would carry). */
export function jsonBytes(value: unknown): number {
  return new TextEncoder().encode(JSON.stringify(value ?? null)).length;
}
