/**
 * `persistOutputs`: Replicate deletes API outputs after an hour, so each file of a prediction's output is copied
 * to the output store (OUTPUT_DIR or OUTPUT_URL) as soon as its step succeeds, heartbeating, and resumed file by
 * file by a retried attempt.
 */
import { Context, heartbeat, log } from '@temporalio/activity';
import { readOutputClaim } from '../claims';
import { download, verified } from './download';
import { extensionOf, folderKey } from './folders';
import type { ManifestEntry } from './manifest';
import { allowedOrigin, notAllowed } from './origins';
import { cacheEntryKey, recordKey, writeRecord, type RecordArgs, type RunRecord } from './records';
import type { OutputSetup } from './setup';

export interface PersistArgs {
  pipelineId: string;
  step: string;
  index: number;
  predictionId: string;
  /** the prediction's output: every http(s) or data: URL in it is persisted */
  output: unknown;
  /** the run's record (./records.ts), written once its files are: a rerun reuses it, `cache` keeps it in the cache */
  record?: RecordArgs;
}

/** What the persist activity records in its heartbeats: a retried attempt skips the files listed in `done`. */
export interface PersistHeartbeat {
  done: ManifestEntry[];
  /** the file being downloaded, and how far it got */
  url?: string;
  bytes?: number;
}

/** Every file URL in an output (strings, arrays, nested objects), in order; iterative, so any depth is fine. */
export function fileUrls(output: unknown): string[] {
  const urls: string[] = [];
  const stack: unknown[] = [output];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') {
      if (/^(https?:|data:)/.test(value)) urls.push(value);
    } else if (value && typeof value === 'object') {
      const children = Array.isArray(value) ? value : Object.values(value);
      for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
    }
  }
  return urls;
}

/**
 * Download every file of one prediction's output into its step's folder of the store. Every URL is checked against
 * the allowed origins before anything is fetched; the activity heartbeats every few seconds with the files done so
 * far, and a retried attempt skips those that are still in the store, verified by size and sha256.
 */
export async function persistOutputs(setup: OutputSetup, args: PersistArgs): Promise<ManifestEntry[]> {
  const { allowed, allowedText, beatMs, claims, claimKey, store } = setup;
  // an output kept out of band arrives as a reference a worker signed: its files are in the stored value
  const output = claimKey ? await readOutputClaim(args.output, claims, claimKey) : args.output;
  const urls = fileUrls(output);
  for (const url of urls)
    if (!url.startsWith('data:') && !allowedOrigin(url, allowed)) throw notAllowed(url, allowedText);
  const stepFolder = folderKey(args.step);
  const folder = folderKey(args.pipelineId, args.step);
  const context = Context.current();
  const prior = (context.info.heartbeatDetails as Partial<PersistHeartbeat> | undefined)?.done ?? [];
  const entries: ManifestEntry[] = [];
  const state: PersistHeartbeat = { done: entries };
  const beat = () => heartbeat({ ...state, done: [...entries] });
  const ticker = setInterval(beat, beatMs);
  let resumed = 0;
  try {
    beat();
    for (const [i, url] of urls.entries()) {
      const name = `${args.index}-${i}${extensionOf(url)}`;
      const key = `${folder}/${name}`;
      const entry: Omit<ManifestEntry, 'bytes' | 'sha256' | 'contentType'> = {
        step: args.step,
        index: args.index,
        predictionId: args.predictionId,
        sourceUrl: url.startsWith('data:') ? `${url.slice(0, 40)}...` : url,
        path: `${stepFolder}/${name}`,
        key: store.objectKey(key),
        url: store.locate(key),
      };
      const before = prior.find(
        (e) =>
          e.path === entry.path && e.sourceUrl === entry.sourceUrl && e.predictionId === args.predictionId,
      );
      if (before && (await verified(setup, before, key))) {
        entries.push({ ...before, key: entry.key, url: entry.url }); // an older worker's heartbeat has neither
        resumed++;
        continue;
      }
      state.url = entry.sourceUrl;
      state.bytes = 0;
      const result = await download(setup, url, key, context.cancellationSignal, (bytes) => {
        state.bytes = bytes;
      });
      entries.push({ ...entry, ...result });
      delete state.url;
      delete state.bytes;
      beat(); // record the finished file at once: a retry starts after it
    }
  } finally {
    clearInterval(ticker);
  }
  log.info(
    `persisted ${entries.length} file(s) of ${args.step}[${args.index}]${resumed ? ` (${resumed} kept from an earlier attempt)` : ''}`,
    { step: args.step, files: entries.length, resumed },
  );
  if (args.record) await writeRecords(setup, args, entries, args.record);
  return entries;
}

/** The run's record in its pipeline's folder, and in the result cache when asked (a model's runs only). */
async function writeRecords(
  setup: OutputSetup,
  args: PersistArgs,
  files: ManifestEntry[],
  r: RecordArgs,
): Promise<void> {
  const record: RunRecord = {
    pipelineId: args.pipelineId,
    step: args.step,
    index: args.index,
    kind: r.kind,
    request: r.request,
    output: r.decision ?? args.output,
    predictionId: args.predictionId || null,
    version: r.version,
    predictTime: r.predictTime,
    ...(r.decision ? { decision: r.decision } : {}),
    files,
    at: new Date().toISOString(),
  };
  await writeRecord(setup.store, recordKey(args.pipelineId, args.step, args.index), record);
  if (r.cache && r.request.model !== null) await writeRecord(setup.store, cacheEntryKey(r.request), record);
}
