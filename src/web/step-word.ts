/**
 * A settled step in the page's words: a step every run of which an earlier result served is `reused` (a rerun's
 * earlier pipeline) or `cached` (the result cache), not `succeeded`: no prediction ran for it. Shared by the
 * pipeline's page and the home list's step summary.
 */
import type { ReusedRun, StepProgress } from '../workflows/pipeline';

export function stepWord(p: Pick<StepProgress, 'status' | 'runs' | 'reused'>): string {
  const reused = p.reused ?? [];
  if (p.status !== 'succeeded' || reused.length === 0 || reused.length < p.runs) return p.status;
  return reused.every((r) => r.how === 'cache') ? 'cached' : 'reused';
}

/** Where some of a step's runs came from: a pipeline (or a single run) and its step. */
export interface ReuseSource {
  how: 'rerun' | 'cache';
  pipelineId: string;
  step: string;
  /** how many of the step's runs it served, and their predictions */
  runs: number;
  predictionIds: string[];
}

/** The earlier results a step's runs came from, one per source. */
export function reuseSources(reused: ReusedRun[] | undefined): ReuseSource[] {
  const sources = new Map<string, ReuseSource>();
  for (const r of reused ?? []) {
    const key = `${r.how}\n${r.pipelineId}\n${r.step}`;
    const s = sources.get(key) ?? {
      how: r.how,
      pipelineId: r.pipelineId,
      step: r.step,
      predictionIds: [],
      runs: 0,
    };
    s.runs++;
    if (r.predictionId) s.predictionIds.push(r.predictionId);
    sources.set(key, s);
  }
  return [...sources.values()];
}
