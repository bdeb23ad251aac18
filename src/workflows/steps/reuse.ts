/**
 * Runs an earlier result serves instead of a new prediction: the earlier run's of a `pipeline rerun` (steps before
 * `--from`, or unchanged ones) and the result cache's (`cache: true`). The reuseRuns activity looks them up in the
 * output store, copies their files into this pipeline's folder and writes this pipeline's records; what it does
 * not find (or finds without its files) runs anew. Deterministic code only.
 */
import { metricMeter } from '@temporalio/workflow';
import type { ReusedRunResult } from '../../activities/outputs';
import { countRunEnd } from '../../observability/metrics';
import type { StepKind, StepRunInput } from '../../shared/pipeline';
import { reuseRuns } from './persist';
import type { PipelineRun } from './run-step';

/** At most this many bytes of inputs per reuseRuns call (an activity's arguments are one payload: 2 MB at most). */
const MAX_REUSE_ARGS_BYTES = 1_000_000;

/** The runs of step `name` an earlier result serves, by fan-out index (none unless rerun or cache apply). */
export async function reusedRuns(
  run: PipelineRun,
  name: string,
  kind: StepKind,
  runs: StepRunInput[],
): Promise<Map<number, ReusedRunResult>> {
  const step = run.spec.steps[name]!;
  const rerun = run.rerun && !run.rerun.anew.has(name) ? run.rerun : undefined;
  const cache = kind.cacheable && (run.cache ?? step.cache ?? run.spec.cache ?? false);
  const found = new Map<number, ReusedRunResult>();
  if (!run.persist || (!rerun && !cache)) return found;
  const requests = runs.map((r) => ({ index: r.index, request: kind.request(step, r) }));
  for (const chunk of chunks(requests)) {
    const hits = await reuseRuns({
      pipelineId: run.pipelineId,
      step: name,
      kind: kind.name,
      runs: chunk,
      ...(rerun ? { rerun: { pipelineId: rerun.pipelineId, force: rerun.from !== undefined } } : {}),
      cache,
    });
    for (const hit of hits) found.set(hit.index, hit);
  }
  // the model label as a run of the step counts it (a deployment by its name)
  const model = kind.models(step)[0];
  for (const hit of found.values())
    if (hit.from.how === 'cache' && model) countRunEnd(metricMeter, model, 'cached');
  return found;
}

/** The requests in groups whose JSON stays under MAX_REUSE_ARGS_BYTES (one group when they are small). */
function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = JSON.stringify(item).length;
    if (current.length > 0 && bytes + size > MAX_REUSE_ARGS_BYTES) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}
