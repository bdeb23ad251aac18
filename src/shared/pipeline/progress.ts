/** The pipeline's report as the `progress` query answers it. */

/**
 * What the `progress` query answers: a copy of the pipeline's report with the running steps' elapsed time filled
 * in. Read-only: queries must never change workflow state.
 */
export function progressSnapshot<
  T extends { steps: Record<string, { status: string; startedAt: string | null; elapsedMs: number | null }> },
>(result: T, nowMs: number): T {
  const steps = Object.fromEntries(
    Object.entries(result.steps).map(([name, p]) => [
      name,
      p.status === 'running' && p.startedAt ? { ...p, elapsedMs: nowMs - Date.parse(p.startedAt) } : { ...p },
    ]),
  );
  return { ...result, steps };
}
