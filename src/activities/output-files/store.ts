/**
 * Where outputs live: ONE interface, two implementations. `localOutputStore` is a folder on the worker's disk
 * (OUTPUT_DIR); `s3OutputStore` (./s3.ts) is a bucket and prefix over the S3 API (OUTPUT_URL), shared by every
 * worker and the CLI. Persisted files, manifests and claim checks all go through it, under keys made of
 * '/'-separated segments that never leave the store (folder names from ./folders.ts, generated file names).
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** A failure of the store itself (not of what was being written), e.g. the S3 server refused or did not answer. */
export class OutputStoreError extends Error {
  override name = 'OutputStoreError';
}

/** What a write stored: its size and its sha256 (hex), both computed while streaming. */
export interface StoredObject {
  bytes: number;
  sha256: string;
}

export interface OutputStore {
  /** the store itself, for messages: an absolute folder or `s3://bucket/prefix` */
  readonly location: string;
  /** the object's own name in the store: the bucket key (prefix included), or the path relative to the folder */
  objectKey(key: string): string;
  /** where the object is: an absolute path, or an `s3://bucket/key` URL */
  locate(key: string): string;
  /**
   * Stream `body` into `key`, hashing it on the way: the object appears whole or not at all (a temporary file
   * renamed, or a multipart upload completed). An error of `body` is thrown as it is. `contentType` and
   * `attachment` (Content-Disposition) are what a server of the bucket answers with; a folder has neither.
   */
  write(
    key: string,
    body: Readable | Buffer | string,
    options?: { contentType?: string | null; attachment?: boolean },
  ): Promise<StoredObject>;
  /** the object's size, or null when there is none */
  size(key: string): Promise<number | null>;
  /** the object's content as a stream, or null when there is none */
  read(key: string): Promise<Readable | null>;
  /** the objects directly in `folder` (a key; '' = the root), with their sizes and when they were written */
  list?(folder: string): AsyncIterable<ListedObject>;
  /** delete `key` (nothing when there is none) */
  remove?(key: string): Promise<void>;
  /** a URL anyone may GET the object from for `expiresInSeconds` (S3: a presigned URL; a folder has none) */
  presign?(key: string, expiresInSeconds: number): Promise<string>;
}

/** An object as `list` sees it. */
export interface ListedObject {
  /** its key in the store */
  key: string;
  bytes: number;
  /** when it was last written, ms since the epoch */
  modifiedMs: number;
}

/** The segments of a store key, each checked: no empty, '.', '..' or separator, so a key never leaves the store. */
export function keySegments(key: string): string[] {
  const segments = key.split('/');
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..' || s.includes('\\') || s.includes('\0'))
      throw new Error(
        `"${key}" is not an output key (segments separated by '/', no '.', '..' or empty ones)`,
      );
  }
  return segments;
}

/** A Transform that counts and hashes what flows through it. */
export function hashing(): { meter: Transform; result(): StoredObject } {
  const hash = createHash('sha256');
  let bytes = 0;
  let digest: string | undefined;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      hash.update(chunk);
      done(null, chunk);
    },
  });
  return { meter, result: () => ({ bytes, sha256: (digest ??= hash.digest('hex')) }) };
}

export function asReadable(body: Readable | Buffer | string): Readable {
  return typeof body === 'string' || Buffer.isBuffer(body) ? Readable.from([Buffer.from(body)]) : body;
}

/** The whole object as a Buffer, or null when there is none (for manifests and claim checks, not for files). */
export async function readAll(store: OutputStore, key: string): Promise<Buffer | null> {
  const stream = await store.read(key);
  if (!stream) return null;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** True when `key` holds exactly `bytes` bytes whose sha256 is `sha256` (streamed back and hashed). */
export async function holds(store: OutputStore, key: string, expected: StoredObject): Promise<boolean> {
  try {
    if ((await store.size(key)) !== expected.bytes) return false;
    const stream = await store.read(key);
    if (!stream) return false;
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of stream) {
      bytes += (chunk as Buffer).length;
      hash.update(chunk as Buffer);
    }
    return bytes === expected.bytes && hash.digest('hex') === expected.sha256;
  } catch {
    return false;
  }
}

/** A folder on this machine: keys are paths under `root`, written via a temporary file then renamed. */
export function localOutputStore(root: string): OutputStore {
  const base = path.resolve(root);
  const fileOf = (key: string) => {
    const file = path.join(base, ...keySegments(key));
    const rel = path.relative(base, file);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel))
      throw new Error(`output ${file} is not inside ${base}`);
    return file;
  };
  const missing = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';
  return {
    location: base,
    objectKey: (key) => path.relative(base, fileOf(key)),
    locate: fileOf,
    async write(key, body) {
      const file = fileOf(key);
      await mkdir(path.dirname(file), { recursive: true });
      const partial = `${file}.${randomUUID().slice(0, 8)}.part`;
      const { meter, result } = hashing();
      try {
        await pipeline(asReadable(body), meter, createWriteStream(partial));
        await rename(partial, file); // atomic: readers never see half a file
      } catch (error) {
        await rm(partial, { force: true });
        throw error;
      }
      return result();
    },
    async size(key) {
      try {
        const s = await stat(fileOf(key));
        return s.isFile() ? s.size : null;
      } catch (error) {
        if (missing(error)) return null;
        throw error;
      }
    },
    async read(key) {
      const stream = createReadStream(fileOf(key));
      try {
        await new Promise<void>((resolve, reject) => {
          stream.once('open', () => resolve());
          stream.once('error', reject);
        });
      } catch (error) {
        if (missing(error)) return null;
        throw error;
      }
      return stream;
    },
    async *list(folder) {
      const dir = folder === '' ? base : fileOf(folder);
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (error) {
        if (missing(error)) return;
        throw error;
      }
      for (const name of names) {
        const key = folder === '' ? name : `${folder}/${name}`;
        const s = await stat(path.join(dir, name)).catch(() => null);
        if (s?.isFile()) yield { key, bytes: s.size, modifiedMs: s.mtimeMs };
      }
    },
    async remove(key) {
      await rm(fileOf(key), { force: true });
    },
  };
}
