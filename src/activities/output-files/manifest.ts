/** `writeManifest`: the list of a pipeline's persisted files, its status and cost, next to the files. */
import { folderKey } from './folders';
import type { OutputSetup } from './setup';

export interface ManifestEntry {
  step: string;
  /** which prediction of the step (fan-out index) */
  index: number;
  predictionId: string;
  sourceUrl: string;
  /** path relative to the pipeline's folder */
  path: string;
  /** the object's name in the store: its key in the bucket (OUTPUT_URL's prefix included), or its path in OUTPUT_DIR */
  key?: string;
  /** where it is: an `s3://bucket/key` URL, or an absolute path */
  url?: string;
  bytes: number;
  sha256: string;
  /** the type it is stored as: its declared type when inert (images, audio, video, JSON, text), else application/octet-stream */
  contentType: string | null;
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
