/**
 * What a model reads when its prediction starts. Files are passed to models as HTTP URLs or data: URLs (the
 * description's `input` field); the simulator reads every string in the input (nested up to MAX_DEPTH levels, at
 * most MAX_FILE_INPUTS of them) that is a data: URL or a file URL of this simulator: a prediction's output
 * (`/files/{id}/{name}`), an upload's `urls.get` (`/v1/files/{id}`) or its signed download URL. One that does not
 * resolve at the start (an output whose data was removed, an expired or deleted upload, a malformed data: URL) fails
 * the prediction. URLs of other hosts are not fetched (the simulator stays offline) and are accepted as they are.
 */
import type { PictureSpec } from './picture';
import { pictureOf } from './picture';

export const MAX_DEPTH = 8;
export const MAX_FILE_INPUTS = 64;

export interface InputReads {
  /** the first file input that did not resolve: the prediction fails when it starts */
  missing?: { field: string; url: string };
  /** the simulator's own pictures among the inputs, by field (`image`, `images[1]`, `mask.url`) */
  pictures: Record<string, PictureSpec>;
}

/** Where the simulator's files live, as of a moment `at` (epoch ms on the simulator's clock). */
export interface FileSources {
  origin: string;
  /** a prediction's output file: undefined when it cannot be downloaded at `at`, else the picture it shows (if any) */
  output(predictionId: string, name: string, at: number): { picture?: PictureSpec } | undefined;
  /** an upload's bytes: undefined when unknown, deleted or expired at `at` */
  upload(fileId: string, at: number): Buffer | undefined;
  /** whether a download URL's query is a valid signature for the upload, unexpired at `at` */
  signed(fileId: string, query: URLSearchParams, at: number): boolean;
}

/** The file inputs of `input` and what reading each of them at `at` found. */
export function readInputs(input: Record<string, unknown>, at: number, sources: FileSources): InputReads {
  const reads: InputReads = { pictures: {} };
  for (const { field, url } of fileInputs(input, sources.origin)) {
    const found = readFile(url, at, sources);
    if (found === undefined) return { ...reads, missing: { field, url } };
    if (found.picture) reads.pictures[field] = found.picture;
  }
  return reads;
}

/** The failed prediction's `error`, naming the input field. */
export function missingInputError(missing: { field: string; url: string }): string {
  const shown = missing.url.length > 120 ? `${missing.url.slice(0, 60)}…` : missing.url;
  return `input.${missing.field}: input file not found (expired?): ${shown}`;
}

/** Strings in `input` that name a file this simulator would read: data: URLs and URLs under its origin. */
export function fileInputs(input: Record<string, unknown>, origin: string): { field: string; url: string }[] {
  const found: { field: string; url: string }[] = [];
  const visit = (value: unknown, field: string, depth: number): void => {
    if (found.length >= MAX_FILE_INPUTS || depth > MAX_DEPTH) return;
    if (typeof value === 'string') {
      if (value.startsWith('data:') || value.startsWith(`${origin}/`)) found.push({ field, url: value });
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, `${field}[${i}]`, depth + 1));
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) visit(v, field === '' ? k : `${field}.${k}`, depth + 1);
    }
  };
  visit(input, '', 0);
  return found;
}

/** What reading one URL at `at` gives: undefined when it does not resolve. Not a file route: read as is. */
function readFile(url: string, at: number, sources: FileSources): { picture?: PictureSpec } | undefined {
  if (url.startsWith('data:')) {
    const bytes = parseDataUrl(url);
    if (bytes === undefined) return undefined;
    const picture = pictureOf(bytes);
    return picture ? { picture } : {};
  }
  let parsed: URL;
  let segments: string[];
  try {
    parsed = new URL(url);
    segments = parsed.pathname.split('/').map((s) => decodeURIComponent(s));
  } catch {
    return undefined; // a malformed URL of ours does not resolve
  }
  const [, first, second, third, fourth] = segments;
  if (first === 'files' && segments.length === 4) return sources.output(second!, third!, at);
  if (first === 'v1' && second === 'files' && third !== undefined && third !== '') {
    const download = fourth === 'download' && segments.length === 5;
    if (segments.length !== 4 && !download) return {};
    const bytes = sources.upload(third, at);
    if (bytes === undefined || (download && !sources.signed(third, parsed.searchParams, at)))
      return undefined;
    const picture = pictureOf(bytes);
    return picture ? { picture } : {};
  }
  return {}; // another route of the simulator: not a file, nothing to read
}

/**
 * The bytes of a data: URL (RFC 2397: `data:[<media type>][;base64],<data>`), or undefined when malformed. Written
 * here because the reading happens inside the synchronous evaluation of a prediction's timeline; the platform's
 * parser (`fetch('data:…')`) is asynchronous.
 */
export function parseDataUrl(url: string): Buffer | undefined {
  const comma = url.indexOf(',');
  if (comma === -1) return undefined;
  const meta = url.slice('data:'.length, comma);
  const data = url.slice(comma + 1);
  if (!/^[\w.+-]+\/[\w.+-]+(;[\w.+-]+=[^;,]*)*(;base64)?$|^(;[\w.+-]+=[^;,]*)*(;base64)?$/i.test(meta)) {
    return undefined;
  }
  if (/;base64$/i.test(meta)) {
    const compact = data.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) return undefined;
    return Buffer.from(compact, 'base64');
  }
  try {
    return Buffer.from(decodeURIComponent(data), 'utf8');
  } catch {
    return undefined;
  }
}
