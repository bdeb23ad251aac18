/**
 * The files routes (the description's files.* operations): POST /v1/files (multipart/form-data: `content`,
 * `filename`, `type`, `metadata`), GET /v1/files (paginated like predictions), GET and DELETE /v1/files/{id}, and
 * GET /v1/files/{id}/download (no token: a signed URL). Anything gone (unknown, deleted, expired, a bad or expired
 * signature) answers the description's 404 `File not found`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RecordedRequest, SimContext } from './context';
import { fileView } from './files';
import type { FileView } from './files';
import { HttpProblem, isObject, problem, sendJson } from './http';
import { paginate } from './list';

/** Room for the multipart framing around a file of the maximum size. */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

export const fileNotFound = (): HttpProblem => problem(404, undefined, 'File not found');

/** The description's 413 for files.create. */
export function fileTooLarge(maxFileBytes: number): HttpProblem {
  const mib = maxFileBytes / 2 ** 20;
  const limit = Number.isInteger(mib) ? `${mib}MB` : `${maxFileBytes} bytes`;
  return problem(413, 'Payload too large', `Files must be less than ${limit} in size`);
}

const badUpload = (detail: string): HttpProblem => problem(400, 'Bad Request', detail);

interface Upload {
  name: string;
  contentType: string;
  bytes: Buffer;
  metadata: Record<string, unknown>;
}

/**
 * Parses the multipart body with the platform's own parser (undici's `Request.formData()`, built into Node):
 * no hand-written multipart parsing and no extra dependency. The body was already read, within the size limit.
 */
async function parseUpload(
  contentType: string | undefined,
  body: Buffer,
  maxFileBytes: number,
): Promise<Upload> {
  if (!/^multipart\/form-data\s*;.*\bboundary=/i.test(contentType ?? '')) {
    throw badUpload(
      'the body must be multipart/form-data with a boundary (fields: content, filename, type, metadata)',
    );
  }
  let form: FormData;
  try {
    form = await new Request('http://simulator.local/v1/files', {
      method: 'POST',
      headers: { 'content-type': contentType! },
      body: body as Uint8Array<ArrayBuffer>, // Buffer.concat allocates a plain ArrayBuffer
    }).formData();
  } catch (err) {
    throw badUpload(`malformed multipart/form-data body: ${(err as Error).message}`);
  }
  const content = form.get('content');
  if (content === null)
    throw badUpload('content is required: the file content, as a form field or a file part');
  const bytes =
    typeof content === 'string' ? Buffer.from(content, 'utf8') : Buffer.from(await content.arrayBuffer());
  if (bytes.length > maxFileBytes) throw fileTooLarge(maxFileBytes);

  const filenameField = form.get('filename');
  const name =
    typeof filenameField === 'string' ? filenameField : typeof content === 'string' ? '' : content.name;
  if (name === '')
    throw badUpload('filename is required (a filename field, or the filename of the content part)');
  if (Buffer.byteLength(name, 'utf8') > 255 || name.includes('\uFFFD')) {
    throw badUpload('filename must be valid UTF-8 of at most 255 bytes');
  }

  const typeField = form.get('type');
  const type =
    typeof typeField === 'string' && typeField !== ''
      ? typeField
      : typeof content !== 'string' && content.type !== ''
        ? content.type
        : 'application/octet-stream';

  const metadataField = form.get('metadata');
  let metadata: unknown = {};
  if (metadataField !== null) {
    const text = typeof metadataField === 'string' ? metadataField : await metadataField.text();
    try {
      metadata = JSON.parse(text) as unknown;
    } catch {
      throw badUpload('metadata must be valid JSON (an object)');
    }
    if (!isObject(metadata)) throw badUpload('metadata must be a JSON object');
  }
  return { name, contentType: type, bytes, metadata: metadata as Record<string, unknown> };
}

/** POST /v1/files: 201 with the file resource. */
export async function createFile(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
  recorded: RecordedRequest,
): Promise<void> {
  const upload = await parseUpload(req.headers['content-type'], body, ctx.maxFileBytes);
  recorded.body = {
    filename: upload.name,
    type: upload.contentType,
    size: upload.bytes.length,
    metadata: upload.metadata,
  };
  const file = ctx.files.add(upload);
  sendJson(res, 201, fileView(file, ctx.baseUrl));
}

/** GET /v1/files: newest first, cursor pages with absolute links (like GET /v1/predictions). */
export function listFiles(
  ctx: SimContext,
  params: URLSearchParams,
): { next: string | null; previous: string | null; results: FileView[] } {
  const page = paginate(
    ctx.files.live(),
    (f) => f.seq,
    params,
    ctx.pageSize,
    (cursor) => {
      return `${ctx.baseUrl}/files?${new URLSearchParams({ cursor }).toString()}`;
    },
  );
  return { ...page, results: page.results.map((f) => fileView(f, ctx.baseUrl)) };
}

/** GET /v1/files/{id} */
export function getFile(ctx: SimContext, id: string): FileView {
  const file = ctx.files.get(id);
  if (!file) throw fileNotFound();
  return fileView(file, ctx.baseUrl);
}

/** DELETE /v1/files/{id}: 204, then every route answers 404 for it. */
export function deleteFile(ctx: SimContext, res: ServerResponse, id: string): void {
  if (!ctx.files.delete(id)) throw fileNotFound();
  res.writeHead(204).end();
}

/** GET /v1/files/{id}/download?owner&expiry&signature: the bytes, as the description's application/octet-stream. */
export function downloadFile(
  ctx: SimContext,
  res: ServerResponse,
  id: string,
  params: URLSearchParams,
): void {
  const file = ctx.files.get(id);
  if (!file || !ctx.files.verify(id, params)) throw fileNotFound();
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': String(file.bytes.length),
    'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(file.name)}`,
  });
  res.end(file.bytes);
}
