/**
 * One Replicate HTTP exchange per call, through the official `replicate` client, whose automatic retries would
 * re-send a create (docs/replicate-api.md §11): Temporal owns every retry. Why and how: docs/architecture.md,
 * "One HTTP exchange per activity call"; proven in test/unit/replicate-client.test.ts.
 */
import type { MetricMeter } from '@temporalio/common';
import Replicate from 'replicate';
import { apiOperationOf, countApiRequest } from '../observability/metrics';
import { processMeter } from '../observability/process-meter';
import { classifyHttpError, classifyNetworkError, type Classified } from '../shared/classify';

export interface ReplicateHttpConfig {
  /** the API token, read from the worker's environment; never logged, never returned */
  token: string;
  /** e.g. https://api.replicate.com/v1 or the simulator's URL */
  baseUrl: string;
  /** the fetch implementation (tests inject one); default global fetch */
  fetch?: typeof fetch;
}

export const USER_AGENT = 'replicate-temporal/0.1 (+replicate-javascript)';

/** Thrown by `replicateCall` for any failed exchange, already classified. */
export class ReplicateCallError extends Error {
  constructor(readonly classified: Classified) {
    super(classified.message);
    this.name = 'ReplicateCallError';
  }
}

export interface CallOptions {
  /** what the call does, for messages: "create prediction", "get prediction abc" */
  operation: string;
  /** per-request timeout, ms */
  timeoutMs: number;
  /** aborts the request (the activity's cancellation signal) */
  signal?: AbortSignal;
  /**
   * where `replicate_api_requests_total` counts the exchange (operation from `operation`'s first word: create,
   * get, cancel, list); default the process meter (a no-op unless METRICS_PORT is set)
   */
  meter?: MetricMeter;
}

/**
 * Run `fn` with a single-exchange client. Resolves with `fn`'s result, or rejects with a `ReplicateCallError`
 * that classifies the one response or network error that happened.
 */
export async function replicateCall<T>(
  config: ReplicateHttpConfig,
  options: CallOptions,
  fn: (client: Replicate) => Promise<T>,
): Promise<T> {
  const realFetch = config.fetch ?? fetch;
  let exchange: Promise<Response> | undefined;
  let settled: { response: Response } | { error: unknown } | undefined;
  let timer: NodeJS.Timeout | undefined; // covers the whole exchange, body included

  const singleExchangeFetch = (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    if (exchange === undefined) {
      // Our own controller rather than AbortSignal.any(): on Node 20 a composite signal that nothing else
      // references can be garbage-collected before it fires, leaving a hung request without its timeout.
      const controller = new AbortController();
      timer = setTimeout(
        () => controller.abort(new DOMException(`no answer within ${options.timeoutMs} ms`, 'TimeoutError')),
        options.timeoutMs,
      );
      for (const signal of [init?.signal, options.signal]) {
        if (signal?.aborted) controller.abort(signal.reason);
        signal?.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
      }
      const counted = (code: number | 'network') => {
        const operation = apiOperationOf(options.operation);
        if (operation) countApiRequest(options.meter ?? processMeter(), operation, code);
      };
      exchange = realFetch(url, { ...init, signal: controller.signal }).then(
        (response) => {
          settled = { response };
          counted(response.status);
          return response;
        },
        (error: unknown) => {
          settled = { error };
          counted('network');
          throw error;
        },
      );
    }
    // Every caller, including the client's retry loop, sees the same outcome; the original body stays unread
    // for our own error classification.
    return exchange.then((response) => response.clone());
  };

  const client = new Replicate({
    auth: config.token,
    baseUrl: config.baseUrl,
    userAgent: USER_AGENT,
    useFileOutput: false,
    fetch: singleExchangeFetch as typeof fetch,
  });

  try {
    return await fn(client);
  } catch (error) {
    throw await classifyFailure(options, settled, error);
  } finally {
    clearTimeout(timer);
  }
}

async function classifyFailure(
  options: CallOptions,
  settled: { response: Response } | { error: unknown } | undefined,
  error: unknown,
): Promise<ReplicateCallError> {
  if (settled && 'response' in settled && !settled.response.ok) {
    const { response } = settled;
    const body = await response.text().catch(() => '');
    return new ReplicateCallError(
      classifyHttpError(options.operation, response.status, response.headers, body, Date.now()),
    );
  }
  if (settled && 'error' in settled) {
    return new ReplicateCallError(classifyNetworkError(options.operation, settled.error, options.timeoutMs));
  }
  // A 2xx whose body could not be read or parsed (cut connection, proxy page): transient.
  return new ReplicateCallError(classifyNetworkError(options.operation, error, options.timeoutMs));
}
