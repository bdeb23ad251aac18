/**
 * Output activities of pipelines: `persistOutputs` copies a prediction's output files to the output store as soon as
 * its step succeeds (./output-files/persist.ts; downloads in download.ts, allowed origins in origins.ts, folders in
 * folders.ts there); `writeManifest` lists them (./output-files/manifest.ts); `storeClaim` keeps an output too large
 * for the pipeline's report in the claim store (./claims.ts); `reuseRuns` serves runs from earlier results (a rerun's,
 * the result cache's: ./output-files/records.ts and reuse.ts). The store is a folder (OUTPUT_DIR) or
 * an S3 bucket (OUTPUT_URL): store.ts, s3.ts. The keys of the returned object are activity type names recorded in
 * workflow histories: never rename them.
 */
import type { ClaimRef } from '../shared/claims';
import { signClaim } from './claims';
import { writeManifest, type ManifestEntry } from './output-files/manifest';
import { keepOutputs, type KeepArgs, type KeptOutputs } from './output-files/keep';
import { persistOutputs, type PersistArgs } from './output-files/persist';
import { reuseRuns, type ReuseArgs, type ReusedRunResult } from './output-files/reuse';
import { outputSetup, type OutputConfig } from './output-files/setup';

export { folderName } from './output-files/folders';
export type { ManifestEntry } from './output-files/manifest';
export { cacheKey, type RecordArgs, type RunRecord } from './output-files/records';
export type { ReuseArgs, ReusedRunResult } from './output-files/reuse';
export { SINGLE_RUN_STEP, type KeepArgs, type KeptOutputs } from './output-files/keep';
export { REPLICATE_DELIVERY_DOMAIN, allowedOrigin } from './output-files/origins';
export { fileUrls, type PersistArgs, type PersistHeartbeat } from './output-files/persist';
export { DEFAULT_MAX_FILE_BYTES, type OutputConfig } from './output-files/setup';
export {
  localOutputStore,
  OutputStoreError,
  type OutputStore,
  type StoredObject,
} from './output-files/store';
export { outputStore } from './output-files/stores';
export { s3ClientFromEnv, s3OutputStore, type S3StoreOptions } from './output-files/s3';
export { OutputUrlError, parseOutputUrl, type S3Location } from './output-files/output-url';

export function createOutputActivities(config: OutputConfig) {
  const setup = outputSetup(config);
  return {
    /**
     * A single run keeps its output files and a manifest in `<store>/<workflow id>/` (./output-files/keep.ts);
     * null where no output store is configured (`OutputConfig.keepRunOutputs`) and the run did not ask.
     */
    keepOutputs: (args: KeepArgs): Promise<KeptOutputs | null> =>
      keepOutputs(setup, config.keepRunOutputs ?? true, args),
    /** Download every file of one prediction's output into its step's folder of the store (./output-files/persist.ts). */
    persistOutputs: (args: PersistArgs): Promise<ManifestEntry[]> => persistOutputs(setup, args),
    /** Write <store>/<folderName(pipelineId)>/manifest.json; returns its absolute path or s3:// URL. */
    writeManifest: (pipelineId: string, manifest: unknown): Promise<string> =>
      writeManifest(setup, pipelineId, manifest),
    /**
     * Keep a value too large for a workflow's report (a pipeline step's output) in the claim store; returns its
     * reference (src/shared/claims.ts), which the client helpers and the CLI resolve.
     */
    /**
     * The runs of a step an earlier result serves (a rerun's earlier pipeline, the result cache), their files
     * copied into this pipeline's folder (./output-files/reuse.ts); a record whose files are gone is a miss.
     */
    reuseRuns: (args: ReuseArgs): Promise<ReusedRunResult[]> => reuseRuns(setup, args),
    storeClaim: async (value: unknown): Promise<ClaimRef> => {
      const ref = await setup.claims.put(value);
      // signed like every reference a worker places, so that readers can tell it from a model's look-alike
      return setup.claimKey ? signClaim(ref, setup.claimKey) : ref;
    },
  };
}

export type OutputActivities = ReturnType<typeof createOutputActivities>;
