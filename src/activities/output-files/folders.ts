/** Where output files go: one folder per pipeline and step in the output store, never outside it. */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { extensionOfType, safeExtension } from './content-types';

const MAX_FOLDER_NAME = 200;

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

/**
 * The store key of a folder: `segments` (pipeline id, step name) each mapped by folderName and joined with '/'.
 * folderName never yields '/', '.' or '..', so the key stays inside the store (OUTPUT_DIR or OUTPUT_URL's prefix).
 */
export function folderKey(...segments: string[]): string {
  return segments.map(folderName).join('/');
}

/**
 * The file extension for an output URL: from a data: URI's type, else from the URL's path; only extensions that
 * no server maps to an executable type (./content-types.ts), else `.bin`; none when the path has none.
 */
export function extensionOf(url: string): string {
  if (url.startsWith('data:')) return extensionOfType(/^data:([^;,]*)/.exec(url)?.[1]);
  const ext = path.extname(new URL(url).pathname);
  if (ext === '') return '';
  return /^\.[a-zA-Z0-9]{1,12}$/.test(ext) ? safeExtension(ext) : '.bin';
}
