/**
 * Uploaded files (POST /v1/files, the description's files.* operations): their bytes, checksums and metadata, the
 * 24-hour expiry on the simulator's clock, deletion, the JSON view the files routes answer, and the signed download
 * URL (`/v1/files/{id}/download?owner&expiry&signature`, the signature a base64 HMAC-SHA256 of "{owner} {id} {expiry}").
 * A file that is deleted or expired is gone: every route answers 404 and a model that reads it fails (inputs.ts).
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

/**
 * Uploads expire 24 hours after they were created (../shared/docs/replicate-api.md §13; recorded traffic:
 * expires_at = created_at + 24 h).
 */
export const DEFAULT_FILE_TTL_MS = 24 * 60 * 60 * 1000;
/** "Files must be less than 100MB in size" (the description's 413); the npm client's own upload limit is 100 MiB. */
export const DEFAULT_MAX_FILE_BYTES = 100 * 1024 * 1024;
/** The account that owns every upload (the `owner` of download URLs). */
export const FILE_OWNER = 'simulator';

export interface StoredFile {
  id: string;
  /** creation order, for list cursors */
  seq: number;
  name: string;
  contentType: string;
  bytes: Buffer;
  sha256: string;
  md5: string;
  metadata: Record<string, unknown>;
  createdAt: number;
  expiresAt: number;
  deletedAt?: number;
}

/** The file resource as the API answers it (schemas_file_response plus `name`, `etag`, `checksums.md5`). */
export interface FileView {
  id: string;
  name: string;
  content_type: string;
  size: number;
  etag: string;
  checksums: { sha256: string; md5: string };
  metadata: Record<string, unknown>;
  created_at: string;
  expires_at: string;
  urls: { get: string };
}

export class FileStore {
  private readonly files = new Map<string, StoredFile>();
  private seq = 0;
  private readonly signingKey = randomBytes(32);

  constructor(
    private readonly clock: () => number,
    private readonly ttlMs: number,
  ) {}

  add(upload: {
    name: string;
    contentType: string;
    bytes: Buffer;
    metadata: Record<string, unknown>;
  }): StoredFile {
    const now = this.clock();
    const file: StoredFile = {
      // like the recorded ids: base64 of a UUID (url-safe alphabet, so it can stand in a path as is)
      id: Buffer.from(randomUUID()).toString('base64url'),
      seq: ++this.seq,
      ...upload,
      sha256: createHash('sha256').update(upload.bytes).digest('hex'),
      md5: createHash('md5').update(upload.bytes).digest('hex'),
      createdAt: now,
      expiresAt: now + this.ttlMs,
    };
    this.files.set(file.id, file);
    return file;
  }

  /** The file if it exists at `at` (default now): not deleted by then, not expired. */
  get(id: string, at = this.clock()): StoredFile | undefined {
    const file = this.files.get(id);
    if (!file || at >= file.expiresAt || (file.deletedAt !== undefined && at >= file.deletedAt))
      return undefined;
    return file;
  }

  /** Live files, newest first. */
  live(): StoredFile[] {
    const now = this.clock();
    return [...this.files.values()].filter((f) => this.get(f.id, now) !== undefined).reverse();
  }

  /** Deletes a live file (kept as a tombstone, so "was it there when that prediction started?" stays answerable). */
  delete(id: string): boolean {
    const file = this.get(id);
    if (!file) return false;
    file.deletedAt = this.clock();
    return true;
  }

  reset(): void {
    this.files.clear();
  }

  /** `{owner, expiry, signature}` of a download URL valid until `expiry` (Unix seconds). */
  sign(id: string, expiry: number): { owner: string; expiry: string; signature: string } {
    const signature = createHmac('sha256', this.signingKey)
      .update(`${FILE_OWNER} ${id} ${expiry}`)
      .digest('base64');
    return { owner: FILE_OWNER, expiry: String(expiry), signature };
  }

  /** Whether a download URL's query is a valid, unexpired signature for this file at `at`. */
  verify(id: string, query: URLSearchParams, at = this.clock()): boolean {
    const owner = query.get('owner');
    const expiry = query.get('expiry');
    const signature = query.get('signature');
    if (owner !== FILE_OWNER || expiry === null || signature === null || !/^\d{1,12}$/.test(expiry))
      return false;
    if (Number(expiry) * 1000 <= at) return false;
    const expected = Buffer.from(this.sign(id, Number(expiry)).signature);
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

export function fileView(file: StoredFile, baseUrl: string): FileView {
  return {
    id: file.id,
    name: file.name,
    content_type: file.contentType,
    size: file.bytes.length,
    etag: file.md5,
    checksums: { sha256: file.sha256, md5: file.md5 },
    metadata: file.metadata,
    created_at: new Date(file.createdAt).toISOString(),
    expires_at: new Date(file.expiresAt).toISOString(),
    urls: { get: `${baseUrl}/files/${file.id}` },
  };
}
