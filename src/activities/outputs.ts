/**
 * Persisting outputs: Replicate deletes API outputs after an hour, so each file is copied to local disk as soon as
 * its step succeeds. Streamed (never buffered whole), hashed on the fly, heartbeating, size-limited.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApplicationFailure, Context, heartbeat, log } from '@temporalio/activity';
import { classifyHttpError, classifyNetworkError } from '../shared/classify';
import { PipelineFailureType } from '../shared/failures';

export interface OutputConfig {
  /** root folder; files go to <outputDir>/<pipelineId>/<step>/ */
  outputDir: string;
  /** largest file accepted, bytes (default 1 GiB) */
  maxFileBytes?: number;
  /** no data for this long aborts the download, ms (default 60 s) */
  idleTimeoutMs?: number;
  fetch?: typeof fetch;
}

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

export interface PersistArgs {
  pipelineId: string;
  step: string;
  index: number;
  predictionId: string;
  /** the prediction's output: every http(s) or data: URL in it is persisted */
  output: unknown;
}

export const DEFAULT_MAX_FILE_BYTES = 1024 ** 3;

/** Every file URL in an output (strings, arrays, nested objects), in order. */
export function fileUrls(output: unknown): string[] {
  if (typeof output === 'string') return /^(https?:|data:)/.test(output) ? [output] : [];
  if (Array.isArray(output)) return output.flatMap(fileUrls);
  if (output && typeof output === 'object') return Object.values(output).flatMap(fileUrls);
  return [];
}

export function createOutputActivities(config: OutputConfig) {
  const maxBytes = config.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const idleMs = config.idleTimeoutMs ?? 60_000;
  const doFetch = config.fetch ?? fetch;

  async function download(
    url: string,
    target: string,
    signal: AbortSignal,
  ): Promise<{ bytes: number; sha256: string; contentType: string | null }> {
    if (url.startsWith('data:')) {
      const m = /^data:([^;,]*)(;base64)?,(.*)$/s.exec(url);
      if (!m)
        throw ApplicationFailure.nonRetryable(
          `malformed data URI output`,
          PipelineFailureType.OutputUnavailable,
        );
      const data = m[2] ? Buffer.from(m[3]!, 'base64') : Buffer.from(decodeURIComponent(m[3]!));
      await writeFile(target, data);
      return {
        bytes: data.length,
        sha256: createHash('sha256').update(data).digest('hex'),
        contentType: m[1] || null,
      };
    }
    // Replicate's file hosts need no token (the official client sends none); never send ours there.
    const idle = new AbortController();
    let timer = setTimeout(() => idle.abort(new Error(`no data for ${idleMs} ms`)), idleMs);
    const onAbort = () => idle.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      let response: Response;
      try {
        response = await doFetch(url, { signal: idle.signal });
      } catch (error) {
        throw ApplicationFailure.retryable(
          classifyNetworkError(`download ${url}`, error, idleMs).message,
          'OutputDownloadFailed',
        );
      }
      if (response.status === 404 || response.status === 410) {
        throw ApplicationFailure.nonRetryable(
          `output ${url} is gone (${response.status}): Replicate deletes API outputs about an hour after the prediction; rerun the step`,
          PipelineFailureType.OutputUnavailable,
        );
      }
      if (!response.ok || !response.body) {
        const c = classifyHttpError(
          `download ${url}`,
          response.status,
          response.headers,
          await response.text().catch(() => ''),
          Date.now(),
        );
        throw ApplicationFailure.create({
          message: c.message,
          type: 'OutputDownloadFailed',
          nonRetryable: c.nonRetryable,
          nextRetryDelay: c.nextRetryDelayMs,
        });
      }
      const declared = Number(response.headers.get('content-length') ?? NaN);
      if (declared > maxBytes) {
        throw ApplicationFailure.nonRetryable(
          `output ${url} is ${declared} bytes, over the ${maxBytes}-byte limit`,
          PipelineFailureType.OutputTooLarge,
        );
      }
      const hash = createHash('sha256');
      let bytes = 0;
      let lastBeat = 0;
      const meter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          bytes += chunk.length;
          if (bytes > maxBytes) {
            done(
              ApplicationFailure.nonRetryable(
                `output ${url} exceeded the ${maxBytes}-byte limit`,
                PipelineFailureType.OutputTooLarge,
              ),
            );
            return;
          }
          hash.update(chunk);
          clearTimeout(timer);
          timer = setTimeout(() => idle.abort(new Error(`no data for ${idleMs} ms`)), idleMs);
          if (Date.now() - lastBeat > 1000) {
            heartbeat({ url, bytes });
            lastBeat = Date.now();
          }
          done(null, chunk);
        },
      });
      const partial = `${target}.part`;
      try {
        await pipeline(
          Readable.fromWeb(response.body as import('node:stream/web').ReadableStream),
          meter,
          createWriteStream(partial),
        );
      } catch (error) {
        await rm(partial, { force: true });
        if (error instanceof ApplicationFailure) throw error;
        throw ApplicationFailure.retryable(
          classifyNetworkError(`download ${url}`, error, idleMs).message,
          'OutputDownloadFailed',
        );
      }
      await rename(partial, target);
      return { bytes, sha256: hash.digest('hex'), contentType: response.headers.get('content-type') };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  return {
    /** Download every file of one prediction's output into <outputDir>/<pipelineId>/<step>/. */
    async persistOutputs(args: PersistArgs): Promise<ManifestEntry[]> {
      const urls = fileUrls(args.output);
      const folder = path.join(config.outputDir, safe(args.pipelineId), safe(args.step));
      await mkdir(folder, { recursive: true });
      const entries: ManifestEntry[] = [];
      for (const [i, url] of urls.entries()) {
        const name = `${args.index}-${i}${extensionOf(url)}`;
        const result = await download(url, path.join(folder, name), Context.current().cancellationSignal);
        entries.push({
          step: args.step,
          index: args.index,
          predictionId: args.predictionId,
          sourceUrl: url.startsWith('data:') ? `${url.slice(0, 40)}...` : url,
          path: path.join(safe(args.step), name),
          ...result,
        });
      }
      log.info(`persisted ${entries.length} file(s) of ${args.step}[${args.index}]`, {
        step: args.step,
        files: entries.length,
      });
      return entries;
    },

    /** Write <outputDir>/<pipelineId>/manifest.json; returns its absolute path. */
    async writeManifest(pipelineId: string, manifest: unknown): Promise<string> {
      const folder = path.join(config.outputDir, safe(pipelineId));
      await mkdir(folder, { recursive: true });
      const file = path.resolve(folder, 'manifest.json');
      await writeFile(file, `${JSON.stringify(manifest, null, 2)}\n`);
      return file;
    },
  };
}

export type OutputActivities = ReturnType<typeof createOutputActivities>;

function safe(name: string): string {
  return name.replace(/[^a-zA-Z0-9._-]/g, '_');
}

function extensionOf(url: string): string {
  if (url.startsWith('data:')) {
    const type = /^data:([^;,]*)/.exec(url)?.[1] ?? '';
    return (
      { 'image/png': '.png', 'image/jpeg': '.jpg', 'image/webp': '.webp', 'text/plain': '.txt' }[type] ??
      '.bin'
    );
  }
  const ext = path.extname(new URL(url).pathname);
  return /^\.[a-zA-Z0-9]{1,8}$/.test(ext) ? ext : '';
}
