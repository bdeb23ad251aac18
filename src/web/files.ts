/**
 * Files from the output store, and nothing else: `/files/<key>` reads `key` from the store (OUTPUT_DIR or
 * OUTPUT_URL), a key of '/'-separated segments that the store itself refuses to leave (no '', '.', '..', '\\').
 * Keys starting with '.' (the claim checks in `.claims/`) are not served. The type comes from the file's extension
 * by the store's inert-type rules (images, audio, video, JSON, text keep theirs; anything else is
 * application/octet-stream, downloaded as an attachment), with `nosniff` and a sandboxing CSP, so no stored file is
 * ever run by the browser as a page.
 */
import path from 'node:path';
import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { OPAQUE_TYPE, typeOfExtension } from '../activities/output-files/content-types';
import { keySegments, type OutputStore } from '../activities/output-files/store';
import { FILE_CSP, securityHeaders, sendText } from './http';

/** The href of a store key under the page's base path: each segment URL-encoded (folder names hold '%'). */
export function fileHref(basePath: string, key: string, download = false): string {
  return `${basePath}/files/${key.split('/').map(encodeURIComponent).join('/')}${download ? '?download' : ''}`;
}

/** The store key a `/files/...` path names, or an error status: 403 for a key outside the rules, 400 for bad encoding. */
export function keyOfFilePath(rest: string): { key: string } | { status: 400 | 403 } {
  let segments: string[];
  try {
    segments = rest.split('/').map(decodeURIComponent);
  } catch {
    return { status: 400 };
  }
  const key = segments.join('/');
  try {
    keySegments(key);
  } catch {
    return { status: 403 };
  }
  // each decoded segment must be exactly one key segment (an encoded '/' would have made two)
  if (segments.some((s) => s.includes('/') || s.startsWith('.'))) return { status: 403 };
  return { key };
}

/** The store's key for a manifest entry's object name (`key`: the bucket key with OUTPUT_URL's prefix, or a path). */
export function storeKeyOf(store: OutputStore, objectKey: string): string {
  const prefix = store.objectKey('x').slice(0, -1);
  const key = objectKey.split(path.sep).join('/');
  return prefix && key.startsWith(prefix) ? key.slice(prefix.length) : key;
}

/** Stream `key` from the store with its inert type; 404 when the store has no such object. */
export async function sendStoredFile(
  store: OutputStore,
  key: string,
  res: ServerResponse,
  download: boolean,
): Promise<void> {
  const stream = await store.read(key);
  securityHeaders(res, FILE_CSP);
  if (!stream) return sendText(res, 404, 'no such file in the output store\n');
  const type = typeOfExtension(path.posix.extname(key));
  const name = path.posix.basename(key).replace(/[^A-Za-z0-9._-]/g, '_');
  const size = await store.size(key).catch(() => null);
  res.writeHead(200, {
    'content-type': type.startsWith('text/') ? `${type}; charset=utf-8` : type,
    ...(size !== null ? { 'content-length': size } : {}),
    'cache-control': 'private, max-age=300',
    ...(download || type === OPAQUE_TYPE ? { 'content-disposition': `attachment; filename="${name}"` } : {}),
  });
  await pipeline(stream, res).catch(() => res.destroy());
}
