/**
 * Persisting outputs: Replicate deletes API outputs after an hour, so each file is copied to local disk as soon as
 * its step succeeds. Streamed (never buffered whole), hashed on the fly, heartbeating, size-limited.
 */
import { fileClaimStore, resolveClaims, type ClaimStore } from './claims';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApplicationFailure, Context, heartbeat, log } from '@temporalio/activity';
import { classifyHttpError, classifyNetworkError } from '../shared/classify';
import { PipelineFailureType } from '../shared/failures';
import { PERSIST_ACTIVITY } from '../shared/pipeline';

export interface OutputConfig {
  /** root folder; files go to <outputDir>/<folderName(pipelineId)>/<folderName(step)>/ */
  outputDir: string;
  /**
   * origins (scheme://host[:port]) output files may be fetched from besides Replicate's delivery hosts
   * (https://replicate.delivery and its subdomains): the worker passes the API origin and OUTPUT_ALLOWED_ORIGINS
   */
  allowedOrigins?: string[];
  /** largest file accepted, bytes (default 1 GiB) */
  maxFileBytes?: number;
  /** no data for this long aborts the download, ms (default 60 s) */
  idleTimeoutMs?: number;
  /** heartbeat this often while persisting, ms (default 5 s; the workflow's heartbeat timeout is 30 s) */
  heartbeatIntervalMs?: number;
  /** redirects followed per file, each hop checked against the allowed origins (default 5) */
  maxRedirects?: number;
  /** where outputs too large for Temporal are kept (claim checks; default `<outputDir>/.claims`) */
  claims?: ClaimStore;
  fetch?: typeof fetch;
}

/** What the persist activity records in its heartbeats: a retried attempt skips the files listed in `done`. */
export interface PersistHeartbeat {
  done: ManifestEntry[];
  /** the file being downloaded, and how far it got */
  url?: string;
  bytes?: number;
}

/** Replicate serves output files from replicate.delivery and its subdomains (e.g. pbxt.replicate.delivery). */
export const REPLICATE_DELIVERY_DOMAIN = 'replicate.delivery';

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

/** The origin of `url` when it may be fetched (https on a delivery host, or a listed origin), else null. */
export function allowedOrigin(url: string, allowed: ReadonlySet<string>): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return null;
  if (allowed.has(u.origin)) return u.origin;
  const host = u.hostname.toLowerCase();
  const delivery = host === REPLICATE_DELIVERY_DOMAIN || host.endsWith(`.${REPLICATE_DELIVERY_DOMAIN}`);
  return delivery && u.protocol === 'https:' && u.port === '' ? u.origin : null;
}

/**
 * The folder name for a pipeline id or step name: one-to-one and never a path. [A-Za-z0-9_-] are kept, every
 * other UTF-8 byte (including '.', '/' and '%') becomes %XX; a name longer than 200 characters keeps its first
 * part and gets '~' and a hash of the whole name (encoding never produces '~', so this stays one-to-one).
 */
export function folderName(name: string): string {
  if (name === '') throw ApplicationFailure.nonRetryable('an empty pipeline id or step name has no folder');
  let out = '';
  for (const byte of Buffer.from(name, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out.length <= MAX_FOLDER_NAME) return out;
  let head = out.slice(0, MAX_FOLDER_NAME - 33);
  const cut = head.lastIndexOf('%');
  if (cut >= 0 && cut > head.length - 3) head = head.slice(0, cut); // never split a %XX
  return `${head}~${createHash('sha256').update(name).digest('hex').slice(0, 32)}`;
}

const MAX_FOLDER_NAME = 200;

export function createOutputActivities(config: OutputConfig) {
  const maxBytes = config.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const idleMs = config.idleTimeoutMs ?? PERSIST_ACTIVITY.idleTimeoutMs;
  const beatMs = config.heartbeatIntervalMs ?? PERSIST_ACTIVITY.heartbeatIntervalMs;
  const maxRedirects = config.maxRedirects ?? 5;
  const claims = config.claims ?? fileClaimStore(path.join(config.outputDir, '.claims'));
  const doFetch = config.fetch ?? fetch;
  const allowed = new Set((config.allowedOrigins ?? []).map((o) => new URL(o).origin));
  const root = path.resolve(config.outputDir);
  const allowedText = [
    `https://${REPLICATE_DELIVERY_DOMAIN}`,
    `https://*.${REPLICATE_DELIVERY_DOMAIN}`,
    ...allowed,
  ].join(', ');

  function notAllowed(url: string, via?: string): ApplicationFailure {
    let origin = url;
    try {
      origin = new URL(url).origin;
    } catch {
      // keep the text
    }
    const what = via ? `output ${via} redirected to ${url}, which` : `output ${url}`;
    return ApplicationFailure.nonRetryable(
      `${what} is not on an allowed origin; outputs are fetched only from ${allowedText}. ` +
        `If ${origin} is trusted, add it to OUTPUT_ALLOWED_ORIGINS on the worker`,
      PipelineFailureType.OutputOriginNotAllowed,
    );
  }

  /** `segments` joined under OUTPUT_DIR, each mapped by folderName; asserted to stay inside it. */
  function confined(...segments: string[]): string {
    const resolved = path.resolve(root, ...segments.map(folderName));
    const rel = path.relative(root, resolved);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
      throw ApplicationFailure.nonRetryable(`output folder ${resolved} is not inside OUTPUT_DIR ${root}`);
    }
    return resolved;
  }

  /** GET `url`, following redirects only while every hop stays on an allowed origin. */
  async function fetchAllowed(url: string, signal: AbortSignal): Promise<Response> {
    let current = url;
    for (let hop = 0; ; hop++) {
      if (!allowedOrigin(current, allowed)) throw notAllowed(current, hop > 0 ? url : undefined);
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

  async function download(
    url: string,
    target: string,
    signal: AbortSignal,
    progress: (bytes: number) => void,
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
    const idle = new AbortController();
    let timer = setTimeout(() => idle.abort(new Error(`no data for ${idleMs} ms`)), idleMs);
    const onAbort = () => idle.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const response = await fetchAllowed(url, idle.signal);
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
  async function verified(entry: ManifestEntry, file: string): Promise<boolean> {
    try {
      if ((await stat(file)).size !== entry.bytes) return false;
      const hash = createHash('sha256');
      await pipeline(createReadStream(file), hash);
      return hash.digest('hex') === entry.sha256;
    } catch {
      return false;
    }
  }

  return {
    /**
     * Download every file of one prediction's output into its step's folder. Every URL is checked against the
     * allowed origins before anything is fetched; the activity heartbeats every few seconds with the files done so
     * far, and a retried attempt skips those that are still on disk, verified by size and sha256.
     */
    async persistOutputs(args: PersistArgs): Promise<ManifestEntry[]> {
      // an output kept out of band arrives as a claim reference: its files are in the stored value
      const urls = fileUrls(await resolveClaims(args.output, claims));
      for (const url of urls)
        if (!url.startsWith('data:') && !allowedOrigin(url, allowed)) throw notAllowed(url);
      const pipelineFolder = confined(args.pipelineId);
      const folder = confined(args.pipelineId, args.step);
      const context = Context.current();
      const prior = (context.info.heartbeatDetails as Partial<PersistHeartbeat> | undefined)?.done ?? [];
      const entries: ManifestEntry[] = [];
      const state: PersistHeartbeat = { done: entries };
      const beat = () => heartbeat({ ...state, done: [...entries] });
      const ticker = setInterval(beat, beatMs);
      let resumed = 0;
      try {
        beat();
        await mkdir(folder, { recursive: true });
        for (const [i, url] of urls.entries()) {
          const name = `${args.index}-${i}${extensionOf(url)}`;
          const target = path.join(folder, name);
          const entry: Omit<ManifestEntry, 'bytes' | 'sha256' | 'contentType'> = {
            step: args.step,
            index: args.index,
            predictionId: args.predictionId,
            sourceUrl: url.startsWith('data:') ? `${url.slice(0, 40)}...` : url,
            path: path.relative(pipelineFolder, target),
          };
          const before = prior.find(
            (e) =>
              e.path === entry.path &&
              e.sourceUrl === entry.sourceUrl &&
              e.predictionId === args.predictionId,
          );
          if (before && (await verified(before, target))) {
            entries.push(before);
            resumed++;
            continue;
          }
          state.url = entry.sourceUrl;
          state.bytes = 0;
          const result = await download(url, target, context.cancellationSignal, (bytes) => {
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
      return entries;
    },

    /** Write <outputDir>/<folderName(pipelineId)>/manifest.json; returns its absolute path. */
    async writeManifest(pipelineId: string, manifest: unknown): Promise<string> {
      const folder = confined(pipelineId);
      await mkdir(folder, { recursive: true });
      const file = path.join(folder, 'manifest.json');
      await writeFile(file, `${JSON.stringify(manifest, null, 2)}\n`);
      return file;
    },
  };
}

export type OutputActivities = ReturnType<typeof createOutputActivities>;

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
