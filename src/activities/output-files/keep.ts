/**
 * `keepOutputs`: a single run keeps its output files like a pipeline step does (allowed origins, sha256, resumed
 * by a retried attempt: ./persist.ts) in `<store>/<workflow id>/output/`, with a manifest beside them, and its
 * record (a later `run --cache` may reuse it). Only where an output store is configured, unless the run asks.
 */
import type { ManifestEntry } from './manifest';
import { writeManifest } from './manifest';
import { persistOutputs } from './persist';
import type { RecordArgs } from './records';
import type { OutputSetup } from './setup';

/** The folder name of a single run's files (its step, as a pipeline would say). */
export const SINGLE_RUN_STEP = 'output';

export interface KeepArgs {
  workflowId: string;
  predictionId: string;
  model: string;
  output: unknown;
  /** the request asked to keep its files (`persist: true`): even where no output store is configured */
  asked: boolean;
  record: RecordArgs;
}

export interface KeptOutputs {
  files: ManifestEntry[];
  /** the manifest: an absolute path or an s3:// URL */
  manifest: string;
}

/** Keep the files; null when this worker has no output store configured and the run did not ask. */
export async function keepOutputs(
  setup: OutputSetup,
  configured: boolean,
  args: KeepArgs,
): Promise<KeptOutputs | null> {
  if (!configured && !args.asked) return null;
  const files = await persistOutputs(setup, {
    pipelineId: args.workflowId,
    step: SINGLE_RUN_STEP,
    index: 0,
    predictionId: args.predictionId,
    output: args.output,
    record: args.record,
  });
  const manifest = await writeManifest(setup, args.workflowId, {
    workflowId: args.workflowId,
    predictionId: args.predictionId,
    model: args.model,
    files,
  });
  return { files, manifest };
}
