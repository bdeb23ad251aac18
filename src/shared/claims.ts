/**
 * Claim checks: a model output too large for Temporal's payloads (2 MB each) is stored out of band by the
 * activity that read it, and workflows carry this small reference instead. Pure: the store, the signature and
 * the resolution are in src/activities/claims.ts; the CLI reads a run's reference back for display.
 */

/** Outputs whose JSON is larger than this travel as a claim reference (default; configurable per worker). */
export const MAX_INLINE_OUTPUT_BYTES = 256 * 1024;

/**
 * A pipeline's report (its result, its failure details, the `progress` query's answer) keeps step outputs inline up
 * to this many bytes of JSON in all; the others become claim references, so that the report stays well under
 * Temporal's 2 MB payload limit. Outputs this small are always inline (URLs, short texts).
 */
export const MAX_REPORT_INLINE_OUTPUT_BYTES = 512 * 1024;
export const ALWAYS_INLINE_OUTPUT_BYTES = 512;

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
  /**
   * in a pipeline report's `outputs`: the stored value is one prediction's output, which the report lists the way
   * `flattenOutputs` does (a list output element by element): resolved, it stands for those elements
   */
  flatten?: true;
}

/** In a pipeline report, in place of an output too large for it that could not be stored out of band either. */
export interface OmittedOutput {
  $omitted: string;
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

/**
 * Which of a step's outputs (one per prediction) its pipeline report keeps inline, the report already holding
 * `usedBytes` of them: each in order while the total stays within MAX_REPORT_INLINE_OUTPUT_BYTES (tiny ones and
 * claim references always); the others go out of band. Deterministic: the workflow decides with it.
 */
export function reportInline(
  outputs: unknown[],
  usedBytes: number,
): { inline: boolean[]; usedBytes: number } {
  let used = usedBytes;
  const inline = outputs.map((o) => {
    const bytes = jsonBytes(o);
    if (isClaimRef(o) || bytes <= ALWAYS_INLINE_OUTPUT_BYTES) return true;
    if (used + bytes > MAX_REPORT_INLINE_OUTPUT_BYTES) return false;
    used += bytes;
    return true;
  });
  return { inline, usedBytes: used };
}
