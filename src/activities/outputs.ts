/**
 * Output activities of pipelines: `persistOutputs` copies a prediction's output files to local disk as soon as its
 * step succeeds (./output-files/persist.ts; downloads in download.ts, allowed origins in origins.ts, folders in
 * folders.ts there); `writeManifest` lists them (./output-files/manifest.ts). The keys of the returned object are activity type
 * names recorded in workflow histories: never rename them.
 */
import { writeManifest, type ManifestEntry } from './output-files/manifest';
import { persistOutputs, type PersistArgs } from './output-files/persist';
import { outputSetup, type OutputConfig } from './output-files/setup';

export { folderName } from './output-files/folders';
export type { ManifestEntry } from './output-files/manifest';
export { REPLICATE_DELIVERY_DOMAIN, allowedOrigin } from './output-files/origins';
export { fileUrls, type PersistArgs, type PersistHeartbeat } from './output-files/persist';
export { DEFAULT_MAX_FILE_BYTES, type OutputConfig } from './output-files/setup';

export function createOutputActivities(config: OutputConfig) {
  const setup = outputSetup(config);
  return {
    /** Download every file of one prediction's output into its step's folder (see ./output-files/persist.ts). */
    persistOutputs: (args: PersistArgs): Promise<ManifestEntry[]> => persistOutputs(setup, args),
    /** Write <outputDir>/<folderName(pipelineId)>/manifest.json; returns its absolute path. */
    writeManifest: (pipelineId: string, manifest: unknown): Promise<string> =>
      writeManifest(setup, pipelineId, manifest),
  };
}

export type OutputActivities = ReturnType<typeof createOutputActivities>;
