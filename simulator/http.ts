/**
 * Small HTTP helpers for the simulator: problem+json error bodies (§5), JSON responses, body reading,
 * `Cancel-After` (Go-style duration, §1) and `Prefer: wait` (§2) parsing, and a seeded PRNG for faults.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface InvalidField {
  type: string;
  field: string;
  description: string;
}

/** An error answered as `application/problem+json` (RFC 7807: `title`, `detail`, `status`). */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof body.detail === 'string' ? body.detail : `HTTP ${status}`);
  }
}

export function problem(
  status: number,
  title: string | undefined,
  detail: string,
  extra: object = {},
): HttpProblem {
  return new HttpProblem(status, { ...(title === undefined ? {} : { title }), detail, status, ...extra });
}

/** 404 body as observed (§5): no title. `hint` (e.g. " Did you mean owner/name?") is appended to the detail. */
export const notFound = (hint = ''): HttpProblem =>
  problem(404, undefined, `The requested resource could not be found.${hint}`);

/** 401 as observed (§5). */
export const unauthenticated = (): HttpProblem =>
  problem(401, 'Unauthenticated', 'You did not pass a valid authentication token');

/** 422 `Input validation failed` with one `- field: description` line per invalid field, like Replicate. */
export function inputValidationFailed(fields: InvalidField[]): HttpProblem {
  const detail = fields.map((f) => `- ${f.field}: ${f.description}\n`).join('');
  return problem(422, 'Input validation failed', detail, { invalid_fields: fields });
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  contentType = 'application/json',
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': contentType,
    'content-length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}

export function sendProblem(
  res: ServerResponse,
  err: HttpProblem,
  headers: Record<string, string> = {},
): void {
  sendJson(res, err.status, err.body, { ...headers, ...err.headers }, 'application/problem+json');
}

export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  contentType: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...headers,
    'content-type': contentType,
    'content-length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}

/** Default request body limit (10 MB, like a sane API gateway); `SimulatorOptions.maxBodyBytes` overrides it for creates. */
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

/** 413 for a body over `limit` bytes (§5). */
export const payloadTooLarge = (limit: number): HttpProblem =>
  problem(413, 'Payload too large', `Request body exceeds the limit of ${limit} bytes`);

/**
 * Reads the whole request body as text. Over `limit` (checked on Content-Length first, then while reading)
 * it stops keeping bytes, drains the rest without parsing it (so the client can read the answer instead of
 * seeing a reset) and throws 413.
 */
export async function readBody(req: IncomingMessage, limit = DEFAULT_MAX_BODY_BYTES): Promise<string> {
  return (await readBodyBytes(req, limit)).toString('utf8');
}

/** readBody's bytes; over `limit` it throws `tooLarge(limit)` (default: payloadTooLarge) once the rest is drained. */
export async function readBodyBytes(
  req: IncomingMessage,
  limit: number,
  tooLarge: (limit: number) => HttpProblem = payloadTooLarge,
): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  let over = Number.isFinite(declared) && declared > limit;
  const chunks: Buffer[] = [];
  let size = 0;
  await new Promise<void>((resolve, reject) => {
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
      } else chunks.push(chunk);
    });
    req.once('end', resolve);
    req.once('error', reject);
    req.once('close', () => (req.complete ? resolve() : reject(new Error('client aborted the request'))));
  });
  if (over) throw tooLarge(limit);
  return Buffer.concat(chunks);
}

/** Parses a JSON request body; an empty body is `undefined`; malformed JSON is a 400 like DRF's parser. */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw problem(400, 'Bad Request', `JSON parse error - ${(err as Error).message}`);
  }
}

const UNIT_MS: Record<string, number> = {
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
  us: 0.001,
  µs: 0.001,
  ns: 1e-6,
};

/**
 * `Cancel-After` value in ms (§1): a bare number means seconds (`30`); otherwise a Go duration such as
 * `30s`, `5m`, `1h30m45s`, `1.5s`, `500ms`. Returns undefined when unparsable.
 */
export function parseCancelAfter(value: string): number | undefined {
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  if (!/^(\d+(\.\d+)?(h|ms|m|s|us|µs|ns))+$/.test(v)) return undefined;
  let total = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
  return total;
}

/** Minimum `Cancel-After` accepted by the API. */
export const MIN_CANCEL_AFTER_MS = 5000;

/**
 * `Prefer: wait` / `wait=n` (§2; spec pattern `^wait(=([1-9]|[1-9][0-9]|60))?$`). Returns the window in
 * seconds, or undefined when absent or not a wait preference (RFC 7240: unknown preferences are ignored).
 */
export function parsePreferWait(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*wait(?:\s*=\s*(\d{1,2}))?\s*$/i.exec(value);
  if (!m) return undefined;
  if (m[1] === undefined) return 60;
  const n = Number(m[1]);
  return n >= 1 ? Math.min(n, 60) : undefined;
}

/** mulberry32: a tiny seeded PRNG so fault injection is reproducible for a given seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The first value of a request header. */
export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
