/**
 * Chained inputs that outlive Replicate's hour: a step's input that takes an earlier step's output file (a URL
 * Replicate deletes about an hour after its prediction) gets the persisted copy instead, as the stageInputFiles
 * activity makes it reachable: a data: URL (small files), a Replicate file upload (24 h), or a presigned URL of the
 * S3 output store. Only runs whose input holds such a URL call it. Deterministic code only.
 */
import type { ManifestEntry } from '../../activities/outputs';
import { MAX_STEP_INPUT_BYTES, type StepRunInput } from '../../shared/pipeline';
import { MAX_INPUT_BYTES } from '../../shared/validate';
import { stageInputFiles } from './persist';
import type { PipelineRun } from './run-step';

/** Each run's input with earlier steps' output files replaced by URLs that still work now. */
export async function stagedRuns(run: PipelineRun, runs: StepRunInput[]): Promise<StepRunInput[]> {
  const bySource = new Map<string, ManifestEntry>();
  for (const f of run.result.manifest.files) if (/^https?:/.test(f.sourceUrl)) bySource.set(f.sourceUrl, f);
  if (bySource.size === 0) return runs;
  // data: URLs grow an input by a third: each run's share of what one step may send, and of what one input may hold
  const inlineBudgetBytes = Math.floor(
    Math.min(MAX_INPUT_BYTES / 2, (MAX_STEP_INPUT_BYTES * 0.75) / Math.max(1, runs.length)),
  );
  return Promise.all(
    runs.map(async (r) => {
      const files = [...new Set(stringsIn(r.input))].flatMap((s) => {
        const f = bySource.get(s);
        return f ? [f] : [];
      });
      if (files.length === 0) return r;
      const staged = await stageInputFiles({
        pipelineId: run.pipelineId,
        input: r.input,
        files,
        inlineBudgetBytes,
      });
      return { ...r, input: staged.input };
    }),
  );
}

/** Every string in `value`, at any depth (iterative: any nesting is fine). */
function stringsIn(value: unknown): string[] {
  const found: string[] = [];
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') found.push(v);
    else if (Array.isArray(v)) stack.push(...v);
    else if (v !== null && typeof v === 'object') stack.push(...Object.values(v));
  }
  return found;
}
