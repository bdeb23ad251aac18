/**
 * Each succeeded run's record in the output store, next to its files: what it asked for, what it made, its files.
 * A rerun reads the earlier pipeline's records (`<pipeline>/.runs/<step>/<index>.json`); the result cache is the
 * same records under their request's key (`.cache/<sha256>.json`, beside the claim checks in `.claims/`).
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../shared/adopt';
import type { Decision, RunRequest } from '../../shared/pipeline';
import { folderKey } from './folders';
import type { ManifestEntry } from './manifest';
import { readAll, type OutputStore } from './store';

/** What the workflow knows of a run besides its files, for its record. */
export interface RecordArgs {
  /** the step's kind */
  kind: string;
  request: RunRequest;
  /** the version Replicate reported */
  version: string | null;
  predictTime: number;
  /** an approval step's decision (its output) */
  decision?: import('../../shared/pipeline').Decision;
  /** also keep it in the result cache under its request's key */
  cache: boolean;
}

export interface RunRecord {
  /** the pipeline (or single run's workflow) and step that made it */
  pipelineId: string;
  step: string;
  index: number;
  kind: string;
  request: RunRequest;
  output: unknown;
  predictionId: string | null;
  version: string | null;
  predictTime: number;
  decision?: Decision;
  /** its files as persisted (manifest entries of `pipelineId`) */
  files: ManifestEntry[];
  /** when it was recorded (ISO 8601) */
  at: string;
}

/** Where a pipeline's record of one run is. */
export function recordKey(pipelineId: string, step: string, index: number): string {
  return `${folderKey(pipelineId)}/.runs/${folderKey(step)}/${index}.json`;
}

/**
 * The result cache's key of a request: sha256 of the model (as the spec names it; a pinned version is part of it),
 * the canonical input (keys sorted, numbers as JSON writes them) and the fan-out index.
 */
export function cacheKey(request: RunRequest): string {
  const key = canonicalJson({ model: request.model, input: request.input, index: request.index });
  return createHash('sha256').update(key).digest('hex');
}

export const cacheEntryKey = (request: RunRequest): string => `.cache/${cacheKey(request)}.json`;

/** Write `record` (whole or not at all) at `key`. */
export async function writeRecord(store: OutputStore, key: string, record: RunRecord): Promise<void> {
  await store.write(key, `${JSON.stringify(record)}\n`, { contentType: 'application/json' });
}

/** The record at `key`, or null when there is none or it is not one (a miss, never an error). */
export async function readRecord(store: OutputStore, key: string): Promise<RunRecord | null> {
  let data: Buffer | null;
  try {
    data = await readAll(store, key);
  } catch {
    return null;
  }
  if (data === null) return null;
  try {
    const r = JSON.parse(data.toString('utf8')) as RunRecord;
    return typeof r === 'object' && r !== null && Array.isArray(r.files) && typeof r.pipelineId === 'string'
      ? r
      : null;
  } catch {
    return null;
  }
}

/** Whether two requests are the same, as the cache and a rerun compare them. */
export function sameRequest(a: RunRequest, b: RunRequest): boolean {
  return canonicalJson(a) === canonicalJson(b);
}
