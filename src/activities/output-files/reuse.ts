/**
 * `reuseRuns`: the runs of a step an earlier result serves, found in the output store (a rerun's earlier pipeline
 * records, the result cache's entries), their files copied into this pipeline's folder (each verified by its sha256
 * as it streams) and this pipeline's own record written, so that it can be rerun in turn. A record whose files are
 * missing or changed is a miss, never an error: that run runs anew.
 */
import path from 'node:path';
import { Context, heartbeat, log } from '@temporalio/activity';
import type { RunRequest, RunResult } from '../../shared/pipeline';
import { folderKey } from './folders';
import type { ManifestEntry } from './manifest';
import { cacheEntryKey, readRecord, recordKey, sameRequest, writeRecord, type RunRecord } from './records';
import type { OutputSetup } from './setup';
import type { OutputStore } from './store';

export interface ReuseArgs {
  /** the pipeline being run: files are copied into its folder */
  pipelineId: string;
  step: string;
  /** the step's kind, for the records */
  kind: string;
  runs: { index: number; request: RunRequest }[];
  /** a rerun: the earlier pipeline; `force`: reuse its result even when the request changed (before `--from`) */
  rerun?: { pipelineId: string; force: boolean };
  /** look in the result cache too */
  cache: boolean;
}

/** A run an earlier result serves. */
export interface ReusedRunResult {
  index: number;
  result: RunResult;
  /** its files, copied into this pipeline's folder */
  files: ManifestEntry[];
  from: { how: 'rerun' | 'cache'; pipelineId: string; step: string; predictionId: string | null };
}

export async function reuseRuns(setup: OutputSetup, args: ReuseArgs): Promise<ReusedRunResult[]> {
  const found: ReusedRunResult[] = [];
  const beat = setInterval(() => heartbeat(), setup.beatMs);
  try {
    for (const run of args.runs) {
      const hit = await reuseOne(setup, args, run);
      if (hit) found.push(hit);
    }
  } finally {
    clearInterval(beat);
  }
  if (found.length > 0)
    log.info(`reused ${found.length} of ${args.runs.length} run(s) of ${args.step}`, {
      step: args.step,
      reused: found.length,
    });
  return found;
}

async function reuseOne(
  setup: OutputSetup,
  args: ReuseArgs,
  run: { index: number; request: RunRequest },
): Promise<ReusedRunResult | null> {
  const candidates: { how: 'rerun' | 'cache'; key: string; force: boolean }[] = [];
  if (args.rerun)
    candidates.push({
      how: 'rerun',
      key: recordKey(args.rerun.pipelineId, args.step, run.index),
      force: args.rerun.force,
    });
  if (args.cache && run.request.model !== null)
    candidates.push({ how: 'cache', key: cacheEntryKey(run.request), force: false });
  for (const c of candidates) {
    const record = await readRecord(setup.store, c.key);
    if (!record || record.index !== run.index) continue;
    if (!c.force && !sameRequest(record.request, run.request)) continue;
    const files = await copyFiles(setup.store, record, args.pipelineId, args.step);
    if (files === null) {
      log.info(`${c.how} entry ${c.key} has lost files: a miss`, { step: args.step });
      continue;
    }
    const mine: RunRecord = {
      ...record,
      pipelineId: args.pipelineId,
      step: args.step,
      kind: args.kind,
      request: run.request,
      files,
      at: new Date().toISOString(),
    };
    await writeRecord(setup.store, recordKey(args.pipelineId, args.step, run.index), mine);
    return {
      index: run.index,
      result: {
        output: record.output,
        predictionId: record.predictionId,
        model: record.request.model,
        version: record.version,
        predictTime: record.predictTime,
        ...(record.decision ? { decision: record.decision } : {}),
      },
      files,
      from: {
        how: c.how,
        pipelineId: record.pipelineId,
        step: record.step,
        predictionId: record.predictionId,
      },
    };
  }
  return null;
}

/** Copy a record's files into `pipelineId`'s folder of `step`; null when one is missing or not what was recorded. */
async function copyFiles(
  store: OutputStore,
  record: RunRecord,
  pipelineId: string,
  step: string,
): Promise<ManifestEntry[] | null> {
  const copies: ManifestEntry[] = [];
  const signal = Context.current().cancellationSignal;
  for (const f of record.files) {
    if (signal.aborted) throw signal.reason;
    const source = `${folderKey(record.pipelineId)}/${f.path}`;
    const name = path.posix.basename(f.path);
    const target = `${folderKey(pipelineId, step)}/${name}`;
    const copy: ManifestEntry = {
      ...f,
      step,
      path: `${folderKey(step)}/${name}`,
      key: store.objectKey(target),
      url: store.locate(target),
    };
    if (source === target) {
      copies.push(copy); // the same folder: a rerun under the earlier id
      continue;
    }
    let body;
    try {
      body = await store.read(source);
    } catch {
      return null;
    }
    if (!body) return null;
    const stored = await store.write(target, body, {
      contentType: f.contentType,
      ...(f.contentType === 'application/octet-stream' ? { attachment: true } : {}),
    });
    if (stored.sha256 !== f.sha256 || stored.bytes !== f.bytes) {
      await store.remove?.(target);
      return null;
    }
    copies.push(copy);
  }
  return copies;
}
