/**
 * What an output file is stored as. A model chooses its outputs' bytes and their declared type, and anything that
 * serves the bucket or the folder (a CDN, a static file server, a browser opening an `s3://` link) serves them as
 * stored: only types a browser never executes keep their type (an explicit allow-list: images, audio, video, JSON,
 * plain text; not SVG, which runs scripts); everything else is stored as `application/octet-stream`, and on S3
 * with `Content-Disposition: attachment`. File extensions follow the same rule, for servers that go by them.
 */

export const OPAQUE_TYPE = 'application/octet-stream';

/** Types stored as themselves: a browser renders them, never runs them. */
const INERT_TYPES = new Set([
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'image/avif',
  'image/bmp',
  'audio/mpeg',
  'audio/mp4',
  'audio/aac',
  'audio/wav',
  'audio/x-wav',
  'audio/wave',
  'audio/ogg',
  'audio/flac',
  'audio/webm',
  'video/mp4',
  'video/webm',
  'video/ogg',
  'video/quicktime',
  'application/json',
  'text/plain',
]);

/** Extensions a file may be stored under: the inert types', and opaque data (archives, model weights). */
const SAFE_EXTENSIONS = new Set([
  ...['.png', '.jpg', '.jpeg', '.gif', '.webp', '.avif', '.bmp'],
  ...['.mp3', '.m4a', '.aac', '.wav', '.ogg', '.oga', '.flac', '.mp4', '.m4v', '.webm', '.ogv', '.mov'],
  ...['.json', '.txt'],
  ...['.bin', '.zip', '.tar', '.gz', '.tgz', '.safetensors', '.ckpt', '.pt', '.pth', '.onnx', '.npy', '.npz'],
]);

/** The extension of each inert type (for data: URLs, which have no file name). */
const EXTENSION_OF_TYPE: Record<string, string> = {
  'image/png': '.png',
  'image/jpeg': '.jpg',
  'image/gif': '.gif',
  'image/webp': '.webp',
  'image/avif': '.avif',
  'image/bmp': '.bmp',
  'audio/mpeg': '.mp3',
  'audio/mp4': '.m4a',
  'audio/aac': '.aac',
  'audio/wav': '.wav',
  'audio/x-wav': '.wav',
  'audio/wave': '.wav',
  'audio/ogg': '.ogg',
  'audio/flac': '.flac',
  'audio/webm': '.webm',
  'video/mp4': '.mp4',
  'video/webm': '.webm',
  'video/ogg': '.ogv',
  'video/quicktime': '.mov',
  'application/json': '.json',
  'text/plain': '.txt',
};

/** A declared Content-Type's media type: lower case, parameters dropped; null when there is none. */
export function mediaType(declared: string | null | undefined): string | null {
  const type = declared?.split(';', 1)[0]!.trim().toLowerCase();
  return type ? type : null;
}

/** How a file declared as `declared` is stored: its type, and whether S3 should serve it as an attachment. */
export function storedType(declared: string | null | undefined): {
  contentType: string;
  attachment: boolean;
} {
  const type = mediaType(declared);
  return type !== null && INERT_TYPES.has(type)
    ? { contentType: type, attachment: false }
    : { contentType: OPAQUE_TYPE, attachment: true };
}

/** The extension for a data: URL's declared type: the inert type's, else `.bin`. */
export function extensionOfType(declared: string | null | undefined): string {
  const type = mediaType(declared);
  return (type !== null && EXTENSION_OF_TYPE[type]) || '.bin';
}

/** An extension taken from a URL's path, kept only when it is in the safe list; else `.bin`. */
export function safeExtension(extension: string): string {
  const lower = extension.toLowerCase();
  return SAFE_EXTENSIONS.has(lower) ? lower : '.bin';
}

/** The type a stored file is served as, from its extension: an inert type's, else application/octet-stream. */
export function typeOfExtension(extension: string): string {
  const lower = extension.toLowerCase();
  // extensions several types share, or that no type above is written with
  const preferred: Record<string, string> = {
    '.webm': 'video/webm',
    '.jpeg': 'image/jpeg',
    '.oga': 'audio/ogg',
    '.m4v': 'video/mp4',
  };
  if (preferred[lower]) return preferred[lower];
  for (const [type, ext] of Object.entries(EXTENSION_OF_TYPE)) if (ext === lower) return type;
  return OPAQUE_TYPE;
}
