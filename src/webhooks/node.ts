/**
 * The webhook handler as a Node request listener, `(req, res) => Promise<void>`: for `http.createServer`, or as an
 * Express route handler. It reads the raw body itself (bodies over the limit get 413 without being read), or
 * takes the raw bytes an earlier middleware kept (`express.raw({ type: 'application/json' })`); a body that a
 * JSON parser already turned into an object cannot be verified and gets 400 `parsed-body`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WebhookHandler, WebhookResponse } from './handler';

export const DEFAULT_WEBHOOK_MAX_BODY_BYTES = 1024 * 1024;

export interface NodeHandlerOptions {
  /** default 1 MiB; larger -> 413 without reading it all */
  maxBodyBytes?: number;
}

/** A request as Node, Express (`body`, `originalUrl`) or another framework hands it over. */
type Request = IncomingMessage & { body?: unknown; originalUrl?: string };

type Body = { kind: 'ok'; bytes: Buffer } | { kind: 'too-large' } | { kind: 'aborted' } | { kind: 'parsed' };

export function nodeWebhookHandler(
  handler: WebhookHandler,
  options: NodeHandlerOptions = {},
): (req: Request, res: ServerResponse) => Promise<void> {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_WEBHOOK_MAX_BODY_BYTES;
  return async (req, res) => {
    const url = new URL(req.originalUrl ?? req.url ?? '/', 'http://receiver.local');
    const workflowId = url.searchParams.get('workflow') ?? undefined;
    const ctx = { workflowId, webhookId: req.headers['webhook-id'], method: req.method };
    const body = await readBody(req, maxBodyBytes);
    if (body.kind === 'aborted') return handler.count('aborted', ctx);
    if (body.kind === 'too-large') {
      res.setHeader('connection', 'close');
      res.on('finish', () => req.socket.destroy());
      return send(res, handler.reject(413, 'too-large', ctx));
    }
    if (body.kind === 'parsed') {
      return send(
        res,
        handler.reject(400, 'parsed-body', {
          ...ctx,
          fix: "the body was parsed before the signature check: mount with express.raw({ type: 'application/json' })",
        }),
      );
    }
    send(res, await handler.handle({ headers: req.headers, body: body.bytes, workflowId }));
  };
}

export function send(res: ServerResponse, response: WebhookResponse): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(response.body);
  res.writeHead(response.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** Reads the raw body up to maxBodyBytes; a declared or actual larger body is not read any further. */
function readBody(req: Request, maxBodyBytes: number): Promise<Body> {
  if (Buffer.isBuffer(req.body)) return Promise.resolve(sized(req.body, maxBodyBytes));
  if (typeof req.body === 'string') return Promise.resolve(sized(Buffer.from(req.body), maxBodyBytes));
  if (req.body !== undefined && req.body !== null) return Promise.resolve({ kind: 'parsed' });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBodyBytes) return Promise.resolve({ kind: 'too-large' });
  return new Promise<Body>((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (result: Body): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('aborted', onAbort);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        req.pause();
        done({ kind: 'too-large' });
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => done({ kind: 'ok', bytes: Buffer.concat(chunks, size) });
    const onAbort = (): void => done({ kind: 'aborted' });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('aborted', onAbort);
  });
}

function sized(bytes: Buffer, maxBodyBytes: number): Body {
  return bytes.length > maxBodyBytes ? { kind: 'too-large' } : { kind: 'ok', bytes };
}
