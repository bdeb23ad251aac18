/**
 * `stageInputFiles`: a step's input that takes an earlier step's output file gets a URL that still works when the
 * prediction starts, made from the persisted copy in the output store (Replicate deletes its own after an hour):
 * files up to 256 KB as data: URLs (while the input's share allows); larger ones uploaded once through Replicate's
 * files API (`POST /v1/files`, multipart; expire after 24 h; at most 100 MiB), an upload reused by its sha256 while
 * it has over an hour left; past 100 MiB a presigned URL of the S3 output store when there is one, else a typed
 * failure naming the limit. Every copy is checked against its recorded sha256 first.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { ApplicationFailure, heartbeat, log } from '@temporalio/activity';
import { PipelineFailureType } from '../shared/failures';
import { call, type ActivitySetup } from './context';
import { folderKey } from './output-files/folders';
import type { ManifestEntry } from './output-files/manifest';
import { readAll, type OutputStore } from './output-files/store';

/** Files up to this size travel inside the input as data: URLs. */
export const MAX_DATA_URL_FILE_BYTES = 256 * 1024;
/** Replicate's files API takes files up to 100 MiB. */
export const MAX_UPLOAD_BYTES = 100 * 1024 * 1024;
/** An upload is reused while it has at least this long before Replicate deletes it. */
const MIN_UPLOAD_LIFE_MS = 60 * 60_000;
/** How long a presigned URL of the S3 store works (the step's prediction reads it when it starts). */
const PRESIGNED_SECONDS = 24 * 3600;
const UPLOAD_TIMEOUT_MS = 5 * 60_000;

export interface StageArgs {
  /** the pipeline whose folder holds the files */
  pipelineId: string;
  input: Record<string, unknown>;
  /** the persisted copies of the earlier outputs this input takes (matched by their sourceUrl) */
  files: ManifestEntry[];
  /** bytes of data: URLs this input may grow by */
  inlineBudgetBytes: number;
}

export interface StagedInput {
  input: Record<string, unknown>;
  /** how each file was made reachable */
  staged: { sourceUrl: string; as: 'data-url' | 'upload' | 'presigned'; bytes: number }[];
}

/** An upload of ours, remembered in the store by its content's sha256. */
interface UploadRecord {
  id: string;
  url: string;
  expiresAt: string | null;
  baseUrl: string;
}

export async function stageInputFiles(
  setup: ActivitySetup,
  store: OutputStore,
  args: StageArgs,
): Promise<StagedInput> {
  const replacements = new Map<string, string>();
  const staged: StagedInput['staged'] = [];
  let budget = args.inlineBudgetBytes;
  for (const f of args.files) {
    if (replacements.has(f.sourceUrl)) continue;
    heartbeat();
    const key = `${folderKey(args.pipelineId)}/${f.path}`;
    let as: StagedInput['staged'][number]['as'];
    let url: string;
    const dataUrlBytes = Math.ceil(f.bytes / 3) * 4 + 40;
    if (f.bytes <= MAX_DATA_URL_FILE_BYTES && dataUrlBytes <= budget) {
      const bytes = await verifiedBytes(store, key, f);
      url = `data:${f.contentType ?? 'application/octet-stream'};base64,${bytes.toString('base64')}`;
      budget -= url.length;
      as = 'data-url';
    } else if (f.bytes <= MAX_UPLOAD_BYTES) {
      url = await uploaded(setup, store, key, f);
      as = 'upload';
    } else if (store.presign) {
      url = await store.presign(key, PRESIGNED_SECONDS);
      as = 'presigned';
    } else {
      throw ApplicationFailure.nonRetryable(
        `${f.path} (an output of step ${f.step}) is ${f.bytes} bytes: over the 100 MiB (${MAX_UPLOAD_BYTES} bytes) Replicate's files API takes, so the next step cannot be given it after Replicate's own URL expires; keep outputs in S3 (OUTPUT_URL=s3://…), whose presigned URLs have no such limit`,
        PipelineFailureType.InputFileTooLarge,
      );
    }
    replacements.set(f.sourceUrl, url);
    staged.push({ sourceUrl: f.sourceUrl, as, bytes: f.bytes });
  }
  log.info(`staged ${staged.length} input file(s): ${staged.map((s) => s.as).join(', ')}`, {
    files: staged.length,
  });
  return { input: replaceStrings(args.input, replacements) as Record<string, unknown>, staged };
}

/** The persisted copy's bytes, checked against the sha256 recorded when it was persisted. */
async function verifiedBytes(store: OutputStore, key: string, f: ManifestEntry): Promise<Buffer> {
  const bytes = await readAll(store, key);
  if (bytes === null || createHash('sha256').update(bytes).digest('hex') !== f.sha256)
    throw ApplicationFailure.nonRetryable(
      `the persisted copy of ${f.sourceUrl} (${store.locate(key)}) is ${bytes === null ? 'missing' : 'not what was persisted (sha256 differs)'}; rerun step ${f.step}`,
      PipelineFailureType.OutputUnavailable,
    );
  return bytes;
}

/** The URL of an upload of the file to Replicate: an earlier one of the same content while it lives, else a new one. */
async function uploaded(
  setup: ActivitySetup,
  store: OutputStore,
  key: string,
  f: ManifestEntry,
): Promise<string> {
  const recordKey = `.uploads/${f.sha256}.json`;
  const known = await readAll(store, recordKey)
    .then((b) => (b ? (JSON.parse(b.toString('utf8')) as UploadRecord) : null))
    .catch(() => null);
  const baseUrl = setup.config.baseUrl;
  if (
    known &&
    known.baseUrl === baseUrl &&
    (known.expiresAt === null || Date.parse(known.expiresAt) - Date.now() > MIN_UPLOAD_LIFE_MS)
  ) {
    const alive = await call(setup, `get file ${known.id}`, setup.timeouts.getMs, (client) =>
      client.files.get(known.id),
    ).then(
      () => true,
      () => false,
    );
    if (alive) return known.url;
  }
  const bytes = await verifiedBytes(store, key, f);
  const file = new File([new Uint8Array(bytes)], path.posix.basename(f.path), {
    type: f.contentType ?? 'application/octet-stream',
  });
  const created = await call(
    setup,
    `upload file ${path.posix.basename(f.path)}`,
    UPLOAD_TIMEOUT_MS,
    (client) => client.files.create(file, { sha256: f.sha256 }),
  );
  const record: UploadRecord = {
    id: created.id,
    url: created.urls.get,
    expiresAt: created.expires_at,
    baseUrl,
  };
  await store.write(recordKey, JSON.stringify(record), { contentType: 'application/json' });
  return record.url;
}

/** `value` with every string that is a key of `replacements` replaced (a copy; any depth). */
function replaceStrings(value: unknown, replacements: Map<string, string>): unknown {
  if (typeof value === 'string') return replacements.get(value) ?? value;
  if (Array.isArray(value)) return value.map((v) => replaceStrings(v, replacements));
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceStrings(v, replacements)]));
  return value;
}
