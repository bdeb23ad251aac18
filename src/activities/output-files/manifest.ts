/** `writeManifest`: the list of a pipeline's persisted files, its status and cost, next to the files. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { confined } from './folders';
import type { OutputSetup } from './setup';

export interface ManifestEntry {
  step: string;
  /** which prediction of the step (fan-out index) */
  index: number;
  predictionId: string;
  sourceUrl: string;
  /** path relative to the pipeline's folder */
  path: string;
  bytes: number;
  sha256: string;
  contentType: string | null;
}

/** Write <outputDir>/<folderName(pipelineId)>/manifest.json; returns its absolute path. */
export async function writeManifest(
  setup: OutputSetup,
  pipelineId: string,
  manifest: unknown,
): Promise<string> {
  const folder = confined(setup.root, pipelineId);
  await mkdir(folder, { recursive: true });
  const file = path.join(folder, 'manifest.json');
  await writeFile(file, `${JSON.stringify(manifest, null, 2)}\n`);
  return file;
}
