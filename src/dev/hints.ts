/** What to do when Temporal does not answer: the same words from the CLI, the worker and the demo. */
export const temporalUnreachableHint =
  'is a Temporal server running there? Start one with `npm run demo -- --keep` or as in the README (Quick start), or set TEMPORAL_ADDRESS';

/** One line: Temporal at `address` does not answer, why, and what to do. */
export function temporalUnreachable(address: string, reason: string): string {
  return `cannot reach Temporal at ${address} (${reason}); ${temporalUnreachableHint}`;
}
