/**
 * Downloading one output file into the output store: streamed (never buffered whole), hashed on the fly by the
 * store, size-limited, ended when no data arrives for a while; every redirect hop checked against the allowed
 * origins.
 */
import { Readable, Transform } from 'node:stream';
import { ApplicationFailure } from '@temporalio/activity';
import { classifyHttpError, classifyNetworkError } from '../../shared/classify';
import { PipelineFailureType } from '../../shared/failures';
import type { ManifestEntry } from './manifest';
import { allowedOrigin, notAllowed } from './origins';
import type { OutputSetup } from './setup';
import { storedType } from './content-types';
import { holds, OutputStoreError, type OutputStore, type StoredObject } from './store';

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

/** A data: URI's payload; a malformed %-escape is the model's error, so retrying cannot fix it. */
function dataUriBytes(url: string, payload: string, base64: boolean): Buffer {
  if (base64) return Buffer.from(payload, 'base64');
  try {
    return Buffer.from(decodeURIComponent(payload));
  } catch {
    throw ApplicationFailure.nonRetryable(
      `data URI output ${url.slice(0, 40)}... has a malformed %-escape (a % not followed by two hex digits of UTF-8)`,
      PipelineFailureType.OutputUnavailable,
    );
  }
}

/** A failure of the store while writing: retryable (the persist activity's retry policy bounds it). */
function storeFailure(error: unknown): ApplicationFailure | undefined {
  if (error instanceof OutputStoreError)
    return ApplicationFailure.retryable(error.message, 'OutputStoreFailed');
  return undefined;
}

/**
 * Download `url` (http(s) or data:) into the store's `key`, whole or not at all (see OutputStore.write);
 * `progress` hears the bytes received so far.
 */
export async function download(
  setup: OutputSetup,
  url: string,
  key: string,
  signal: AbortSignal,
  progress: (bytes: number) => void,
): Promise<StoredFile> {
  const { idleMs, maxBytes, store } = setup;
  if (url.startsWith('data:')) {
    const m = /^data:([^;,]*)(;base64)?,(.*)$/s.exec(url);
    if (!m)
      throw ApplicationFailure.nonRetryable(
        `malformed data URI output`,
        PipelineFailureType.OutputUnavailable,
      );
    return writeInert(store, key, dataUriBytes(url, m[3]!, m[2] !== undefined), m[1] || null);
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
        clearTimeout(timer);
        timer = setTimeout(() => idle.abort(new Error(`no data for ${idleMs} ms`)), idleMs);
        progress(bytes);
        done(null, chunk);
      },
    });
    const source = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream);
    source.once('error', (error) => meter.destroy(error));
    source.pipe(meter);
    try {
      return await writeInert(store, key, meter, response.headers.get('content-type'));
    } catch (error) {
      source.destroy();
      if (error instanceof ApplicationFailure) throw error;
      throw (
        storeFailure(error) ??
        ApplicationFailure.retryable(
          classifyNetworkError(`download ${url}`, error, idleMs).message,
          'OutputDownloadFailed',
        )
      );
    }
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}

/** What a download stored: size and hash, the type it was stored as, and the declared one when that differs. */
export type StoredFile = StoredObject & { contentType: string; declaredContentType?: string | null };

/** Write a file as an inert type (./content-types.ts); a failure of the store is retryable. */
async function writeInert(
  store: OutputStore,
  key: string,
  body: Buffer | Transform,
  declared: string | null,
): Promise<StoredFile> {
  const { contentType, attachment } = storedType(declared);
  let stored: StoredObject;
  try {
    stored = await store.write(key, body, { contentType, ...(attachment ? { attachment } : {}) });
  } catch (error) {
    throw storeFailure(error) ?? error;
  }
  return { ...stored, contentType, ...(declared !== contentType ? { declaredContentType: declared } : {}) };
}

/** True when `entry` (from an earlier attempt's heartbeat) is still in the store with its recorded size and hash. */
export function verified(setup: OutputSetup, entry: ManifestEntry, key: string): Promise<boolean> {
  return holds(setup.store, key, entry);
}
