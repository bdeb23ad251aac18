/**
 * The codec server: Temporal's remote codec protocol over HTTP, so the Temporal CLI (`--codec-endpoint`) and the
 * Temporal UI (its "Codec Server" setting) show decrypted payloads to who may see them. `POST <any path>/decode` and
 * `/encode` take and answer `{"payloads": [...]}` (proto3 JSON); only the last path segment counts, as the protocol
 * says, so it can be mounted under a prefix.
 *
 * Who may call:
 * - with an auth token (CODEC_AUTH_TOKEN): every request carries `Authorization: Bearer <token>`, else 401;
 * - without one it only listens on loopback (src/config/codec-server.ts refuses otherwise), and requests must name a
 *   loopback Host, so a web page cannot reach it through DNS rebinding;
 * - browsers: only from the configured origins (CORS, CODEC_CORS_ORIGIN); any other Origin gets 403, preflight too;
 * - X-Namespace, when sent, must be the namespace the keys belong to.
 *
 * Plain Node http with caps: header and request timeouts, an idle keep-alive timeout, a connection cap, a body limit.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isLoopback, type CodecServerConfig } from '../config/codec-server';
import { DecryptionError, EncryptionCodec } from './codec';
import { payloadsFromJson, payloadsToJson } from './payload-json';

/** A history's largest payload is 2 MB by default; a request carries one field's payloads. */
export const CODEC_MAX_BODY_BYTES = 16 * 1024 * 1024;
export const CODEC_MAX_CONNECTIONS = 64;

export interface CodecServerOptions extends CodecServerConfig {
  /** one line per refused or failed request (never a payload) */
  log?: (line: string) => void;
}

export interface RunningCodecServer {
  /** e.g. http://127.0.0.1:8888 */
  origin: string;
  stop(): Promise<void>;
}

type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

export async function startCodecServer(options: CodecServerOptions): Promise<RunningCodecServer> {
  const codec = new EncryptionCodec(options.keys);
  const log = options.log ?? (() => undefined);
  const server: Server = createServer((req, res) => {
    handle(req, options, codec, log).then(
      (reply) => send(res, req, options, reply),
      (error: unknown) => {
        log(`codec server: ${req.method} ${req.url}: ${(error as Error).message}`);
        send(res, req, options, { status: 500, body: { error: 'internal error' } });
      },
    );
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 64;
  server.maxConnections = CODEC_MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    origin: `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(
  req: IncomingMessage,
  config: CodecServerConfig,
  c: EncryptionCodec,
  log: (line: string) => void,
): Promise<Reply> {
  const path = new URL(req.url ?? '/', 'http://codec.local').pathname;
  const operation = /\/(encode|decode)$/.exec(path)?.[1] as 'encode' | 'decode' | undefined;
  if (req.method === 'GET' && path === '/healthz') return { status: 200, body: { ok: true } };
  if (!operation) return { status: 404, body: { error: 'not found: POST .../decode or .../encode' } };
  const origin = req.headers.origin;
  if (origin !== undefined && !config.corsOrigins.includes(origin)) {
    log(
      `codec server: refused a request from origin ${origin} (CODEC_CORS_ORIGIN allows ${config.corsOrigins.join(', ') || 'none'})`,
    );
    return { status: 403, body: { error: `origin ${origin} is not allowed (CODEC_CORS_ORIGIN)` } };
  }
  if (req.method === 'OPTIONS') return { status: 204 }; // a preflight from an allowed origin
  if (req.method !== 'POST')
    return { status: 405, body: { error: 'use POST' }, headers: { allow: 'POST, OPTIONS' } };
  const denied = authProblem(req, config);
  if (denied) {
    log(`codec server: refused ${operation} from ${req.socket.remoteAddress}: ${denied.body.error}`);
    return denied;
  }
  const namespace = req.headers['x-namespace'];
  if (typeof namespace === 'string' && namespace !== '' && namespace !== config.namespace) {
    return {
      status: 403,
      body: {
        error: `this codec server holds the keys of namespace ${config.namespace}, not ${namespace}`,
      },
    };
  }
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
    return { status: 415, body: { error: 'send Content-Type: application/json' } };
  }
  const text = await readBody(req);
  if (text === null) {
    return {
      status: 413,
      body: { error: `the body is larger than ${CODEC_MAX_BODY_BYTES} bytes` },
      headers: { connection: 'close' },
    };
  }
  let payloads;
  try {
    payloads = payloadsFromJson(JSON.parse(text) as unknown);
  } catch (error) {
    return { status: 400, body: { error: (error as Error).message } };
  }
  try {
    const result = operation === 'encode' ? await c.encode(payloads) : await c.decode(payloads);
    return { status: 200, body: payloadsToJson(result) };
  } catch (error) {
    if (!(error instanceof DecryptionError)) throw error;
    log(`codec server: ${error.message}`);
    return { status: 422, body: { error: error.message } };
  }
}

/** 401 without the token (when one is set); 403 when there is none and the Host is not loopback (DNS rebinding). */
function authProblem(
  req: IncomingMessage,
  config: CodecServerConfig,
): (Reply & { body: { error: string } }) | null {
  if (config.authToken === undefined) {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    return isLoopback(host)
      ? null
      : { status: 403, body: { error: `Host ${host} is not this machine's loopback address` } };
  }
  const given = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
  if (given !== undefined && sameSecret(given, config.authToken)) return null;
  return {
    status: 401,
    body: {
      error: given === undefined ? 'missing Authorization: Bearer <CODEC_AUTH_TOKEN>' : 'wrong bearer token',
    },
    headers: { 'www-authenticate': 'Bearer realm="replicate-temporal codec"' },
  };
}

/** Constant-time comparison of two secrets of any length (their digests are compared). */
function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

function send(res: ServerResponse, req: IncomingMessage, config: CodecServerConfig, reply: Reply): void {
  if (res.headersSent || res.destroyed) return;
  const origin = req.headers.origin;
  const headers: Record<string, string> = { 'cache-control': 'no-store', vary: 'Origin', ...reply.headers };
  if (origin !== undefined && config.corsOrigins.includes(origin)) {
    headers['access-control-allow-origin'] = origin;
    // the UI's "include cross-origin credentials" setting sends cookies (e.g. to an authenticating proxy)
    headers['access-control-allow-credentials'] = 'true';
    if (req.method === 'OPTIONS') {
      headers['access-control-allow-methods'] = 'POST, OPTIONS';
      headers['access-control-allow-headers'] = 'content-type, x-namespace, authorization';
      headers['access-control-max-age'] = '600';
    }
  }
  if (reply.body === undefined) {
    res.writeHead(reply.status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(reply.body);
  headers['content-type'] = 'application/json';
  headers['content-length'] = String(Buffer.byteLength(text));
  res.writeHead(reply.status, headers);
  res.end(text);
}

/** The body as text, or null past CODEC_MAX_BODY_BYTES (the rest is not read; the connection closes). */
async function readBody(req: IncomingMessage): Promise<string | null> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > CODEC_MAX_BODY_BYTES) return tooLarge(req);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > CODEC_MAX_BODY_BYTES) return tooLarge(req);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

function tooLarge(req: IncomingMessage): null {
  req.pause(); // the reply closes the connection
  return null;
}
