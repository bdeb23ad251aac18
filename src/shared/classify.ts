/**
 * Replicate HTTP outcome -> Temporal failure classification. Pure: no I/O, unit-tested without a server.
 * The activity turns the result into an ApplicationFailure; the retry policy does the rest.
 */
import { ReplicateErrorType, ReplicateTransientType } from './failures';

export interface Classified {
  type: string;
  message: string;
  nonRetryable: boolean;
  /** for 429: how long Replicate asked us to wait (becomes the activity's `nextRetryDelay`) */
  nextRetryDelayMs?: number;
  /** HTTP status, when there was a response */
  status?: number;
  /** Replicate's `detail` (problem+json), quoted in `message` */
  detail?: string;
  invalidFields?: { field?: string; description?: string; type?: string }[];
  /** no connection was made: the request never left (a refused connection, an unknown host, a TLS failure) */
  notSent?: boolean;
}

/** Network error codes that mean the connection was never made, so the request never left (undici, Node). */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

/** Only the header lookups we need; `Headers` fits. */
export interface HeaderLookup {
  get(name: string): string | null;
}

interface ProblemBody {
  title?: string;
  detail?: string;
  retry_after?: number;
  invalid_fields?: { field?: string; description?: string; type?: string }[];
}

const HINTS: Record<number, string> = {
  401: 'set REPLICATE_API_TOKEN on the worker to a valid token (https://replicate.com/account/api-tokens)',
  402: 'set up billing for the Replicate account (https://replicate.com/account/billing)',
  403: 'the token has no access to this resource; check the model, deployment or account',
  404: 'check the model, version, deployment or prediction id',
  413: 'the request is too large; pass big files as URLs',
  422: 'fix the input to match the model schema',
};

/** Classify a non-2xx response. `body` is the raw response text. */
export function classifyHttpError(
  operation: string,
  status: number,
  headers: HeaderLookup,
  body: string,
  nowMs: number,
): Classified {
  const problem = parseProblem(body);
  const detail = (problem.detail ?? (problem.title || body.trim().slice(0, 300))) || undefined;
  const title = problem.title ? `${problem.title}: ` : '';
  const quoted = detail ? ` (${status} ${title}${detail.trim()})` : ` (${status})`;
  const base = { status, detail, invalidFields: problem.invalid_fields };

  if (status === 429) {
    const delay = retryAfterMs(headers, problem, body, nowMs);
    return {
      ...base,
      type: ReplicateTransientType.RateLimited,
      nonRetryable: false,
      nextRetryDelayMs: delay,
      message: `Replicate ${operation} was rate limited${quoted}; retrying in ${delay === undefined ? 'the policy interval' : `${delay} ms`}`,
    };
  }
  // 408: the request did not reach the API in time (a proxy or the gateway gave up); nothing was done: retry.
  if (status >= 500 || status === 408) {
    return {
      ...base,
      type: ReplicateTransientType.ServerError,
      nonRetryable: false,
      message: `Replicate ${operation} failed with a server error${quoted}; will retry`,
    };
  }
  const type =
    {
      401: ReplicateErrorType.Unauthorized,
      402: ReplicateErrorType.PaymentRequired,
      403: ReplicateErrorType.Forbidden,
      404: ReplicateErrorType.NotFound,
      422: ReplicateErrorType.InvalidInput,
    }[status] ?? ReplicateErrorType.RequestRejected;
  const fields = problem.invalid_fields?.length
    ? `; invalid fields: ${problem.invalid_fields.map((f) => `${f.field ?? '?'}: ${f.description ?? f.type ?? ''}`).join('; ')}`
    : '';
  const hint = HINTS[status] ? `; ${HINTS[status]}` : '';
  return {
    ...base,
    type,
    nonRetryable: true,
    message: `Replicate ${operation} was rejected${quoted}${fields}${hint}`,
  };
}

/** Classify an error thrown by `fetch` (no response): always retryable. */
export function classifyNetworkError(operation: string, error: unknown, timeoutMs: number): Classified {
  const e = error as {
    name?: string;
    message?: string;
    code?: string;
    cause?: { code?: string; message?: string };
  };
  const timedOut = e?.name === 'TimeoutError';
  const code = e?.cause?.code ?? e?.code;
  const reason = timedOut
    ? `no answer within ${timeoutMs} ms`
    : [e?.message, e?.cause?.code ?? e?.cause?.message].filter(Boolean).join(': ') || String(error);
  return {
    type: ReplicateTransientType.NetworkError,
    nonRetryable: false,
    message: `Replicate ${operation} did not complete (${reason}); will retry`,
    ...(!timedOut && code !== undefined && NOT_SENT_CODES.has(code) ? { notSent: true } : {}),
  };
}

/**
 * How long a 429 asks us to wait, in ms: the `Retry-After` header (seconds or an HTTP date), else the body's
 * `retry_after`, else the number in `detail` ("Expected available in 3 seconds", "resets in ~30s"),
 * else `ratelimit-reset`. Undefined when nothing says.
 */
export function retryAfterMs(
  headers: HeaderLookup,
  problem: ProblemBody,
  body: string,
  nowMs: number,
): number | undefined {
  const header = headers.get('retry-after');
  if (header) {
    if (/^\s*\d+(\.\d+)?\s*$/.test(header)) return Math.ceil(Number(header) * 1000);
    const date = Date.parse(header);
    if (!Number.isNaN(date)) return Math.max(0, date - nowMs);
  }
  if (typeof problem.retry_after === 'number' && problem.retry_after >= 0) {
    return Math.ceil(problem.retry_after * 1000);
  }
  const text = problem.detail ?? body;
  const m = /(?:available in|resets in)\s*~?\s*(\d+(?:\.\d+)?)\s*(?:s\b|sec|second)/i.exec(text);
  if (m) return Math.ceil(Number(m[1]) * 1000);
  const reset = headers.get('ratelimit-reset');
  if (reset && /^\d+$/.test(reset.trim())) return Number(reset) * 1000;
  return undefined;
}

function parseProblem(body: string): ProblemBody {
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null ? (parsed as ProblemBody) : {};
  } catch {
    return {};
  }
}
