/**
 * Downloading one output file: streamed (never buffered whole), hashed on the fly, size-limited, ended when no data
 * arrives for a while; every redirect hop checked against the allowed origins.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApplicationFailure } from '@temporalio/activity';
import { classifyHttpError, classifyNetworkError } from '../../shared/classify';
import { PipelineFailureType } from '../../shared/failures';
import type { ManifestEntry } from './manifest';
import { allowedOrigin, notAllowed } from './origins';
import type { OutputSetup } from './setup';

/** GET `url`, following redirects only while every hop stays on an allowed origin. */
async function fetchAllowed(setup: OutputSetup, url: string, signal: AbortSignal): Promise<Response> {
  const { allowed, allowedText, idleMs, maxRedirects, fetch: doFetch } = setup;
  let current = url;
  for (let hop = 0; ; hop++) {
    if (!allowedOrigin(current, allowed)) throw notAllowed(current, allowedText, hop > 0 ? url : undefined);
    let response: Response;
    try {
      // Replicate's file hosts need no token (the official client sends none); never send ours there.
      response = await doFetch(current, { signal, redirect: 'manual' });
    } catch (error) {
      throw ApplicationFailure.retryable(
        classifyNetworkError(`download ${current}`, error, idleMs).message,
        'OutputDownloadFailed',
      );
    }
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || location === null) return response;
    await response.body?.cancel().catch(() => undefined);
    if (hop >= maxRedirects) {
      throw ApplicationFailure.nonRetryable(
        `output ${url} made more than ${maxRedirects} redirects (last to ${location})`,
        PipelineFailureType.OutputUnavailable,
      );
    }
    current = new URL(location, current).href;
  }
}

/**
 * Download `url` (http(s) or data:) into `target`, via `<target>.part` so a file is whole or absent; `progress`
 * hears the bytes received so far.
 */
export async function download(
  setup: OutputSetup,
  url: string,
  target: string,
  signal: AbortSignal,
  progress: (bytes: number) => void,
): Promise<{ bytes: number; sha256: string; contentType: string | null }> {
  const { idleMs, maxBytes } = setup;
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
  const idle = new AbortController();
  let timer = setTimeout(() => idle.abort(new Error(`no data for ${idleMs} ms`)), idleMs);
  const onAbort = () => idle.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const response = await fetchAllowed(setup, url, idle.signal);
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
        progress(bytes);
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

/** True when `entry` (from an earlier attempt's heartbeat) is still on disk with its recorded size and hash. */
export async function verified(entry: ManifestEntry, file: string): Promise<boolean> {
  try {
    if ((await stat(file)).size !== entry.bytes) return false;
    const hash = createHash('sha256');
    await pipeline(createReadStream(file), hash);
    return hash.digest('hex') === entry.sha256;
  } catch {
    return false;
  }
}
