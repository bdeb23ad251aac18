/** `writeManifest`: the list of a pipeline's persisted files, its status and cost, next to the files. */
import { folderKey } from './folders';
import type { KeptFile } from '../../shared/types';
import type { OutputSetup } from './setup';

/** A kept file (its source, path, key, URL, size, sha256 and stored type) as the manifest lists it. */
export interface ManifestEntry extends KeptFile {
  step: string;
  /** which prediction of the step (fan-out index) */
  index: number;
  predictionId: string;
  /** what the source declared, when it was not stored as such (null: it declared none) */
  declaredContentType?: string | null;
}

/** Write manifest.json in the pipeline's folder of the store; returns where it is (absolute path or s3:// URL). */
export async function writeManifest(
  setup: OutputSetup,
  pipelineId: string,
  manifest: unknown,
): Promise<string> {
  const key = `${folderKey(pipelineId)}/manifest.json`;
  await setup.store.write(key, `${JSON.stringify(manifest, null, 2)}\n`, { contentType: 'application/json' });
  return setup.store.locate(key);
}
