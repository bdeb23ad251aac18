import { describe, expect, it } from 'vitest';
import { ReplicateCallError, replicateCall } from '../../src/activities/replicate-client';
import { ReplicateTransientType } from '../../src/shared/failures';

/** A fetch that records every call and answers with `respond`. */
function recordingFetch(respond: () => Promise<Response>) {
  const calls: { url: string; method: string; headers: Record<string, string> }[] = [];
  const fetchFn = (async (url: string | URL, init?: RequestInit) => {
    calls.push({
      url: String(url),
      method: init?.method ?? 'GET',
      headers: { ...(init?.headers as object) } as Record<string, string>,
    });
    return respond();
  }) as typeof fetch;
  return { calls, fetchFn };
}

const config = (fetchFn: typeof fetch) => ({
  token: 'secret-token',
  baseUrl: 'http://sim.test/v1',
  fetch: fetchFn,
});
const create = (client: import('replicate').default) =>
  client.request('/predictions', {
    method: 'POST',
    headers: { 'Cancel-After': '60s' },
    data: { version: 'v', input: {} },
  });

describe('replicateCall: one network exchange per call', () => {
  it('sends POST create once when fetch throws (the official client would send it 6 times)', async () => {
    const { calls, fetchFn } = recordingFetch(() =>
      Promise.reject(new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } })),
    );
    const error = await replicateCall(
      config(fetchFn),
      { operation: 'create prediction', timeoutMs: 1000 },
      create,
    ).catch((e: unknown) => e);
    expect(calls).toHaveLength(1);
    expect(error).toBeInstanceOf(ReplicateCallError);
    expect((error as ReplicateCallError).classified).toMatchObject({
      type: ReplicateTransientType.NetworkError,
      nonRetryable: false,
    });
    expect((error as Error).message).toContain('ECONNRESET');
  });

  it('sends POST create once on 429 and reports Retry-After instead of retrying back-to-back', async () => {
    const { calls, fetchFn } = recordingFetch(
      async () =>
        new Response(JSON.stringify({ detail: 'Request was throttled.', status: 429 }), {
          status: 429,
          headers: { 'Retry-After': '4' },
        }),
    );
    const error = await replicateCall(
      config(fetchFn),
      { operation: 'create prediction', timeoutMs: 1000 },
      create,
    ).catch((e: unknown) => e);
    expect(calls).toHaveLength(1);
    expect((error as ReplicateCallError).classified).toMatchObject({
      type: ReplicateTransientType.RateLimited,
      nextRetryDelayMs: 4000,
    });
  });

  it('sends GET once on 503 (the client would retry it 5 times)', async () => {
    const { calls, fetchFn } = recordingFetch(
      async () => new Response('Service Unavailable', { status: 503 }),
    );
    const error = await replicateCall(
      config(fetchFn),
      { operation: 'get prediction p1', timeoutMs: 1000 },
      (c) => c.predictions.get('p1'),
    ).catch((e: unknown) => e);
    expect(calls).toHaveLength(1);
    expect((error as ReplicateCallError).classified).toMatchObject({
      type: ReplicateTransientType.ServerError,
      status: 503,
    });
    expect((error as Error).message).toContain('Service Unavailable');
  });

  it('times out a hanging request with the configured timeout', async () => {
    const fetchFn = ((_url: string, init?: RequestInit) =>
      new Promise((_resolve, reject) =>
        init?.signal?.addEventListener('abort', () => reject(init.signal!.reason)),
      )) as unknown as typeof fetch;
    const started = Date.now();
    const error = await replicateCall(
      config(fetchFn),
      { operation: 'get prediction p1', timeoutMs: 200 },
      (c) => c.predictions.get('p1'),
    ).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2000);
    expect((error as Error).message).toContain('no answer within 200 ms');
  });

  it('sends the token, Cancel-After and JSON body, and no Prefer header', async () => {
    const { calls, fetchFn } = recordingFetch(
      async () => new Response(JSON.stringify({ id: 'p1', status: 'starting' }), { status: 201 }),
    );
    const response = await replicateCall(config(fetchFn), { operation: 'create', timeoutMs: 1000 }, create);
    expect(await response.json()).toEqual({ id: 'p1', status: 'starting' });
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ url: 'http://sim.test/v1/predictions', method: 'POST' });
    expect(calls[0]!.headers).toMatchObject({ Authorization: 'Bearer secret-token', 'Cancel-After': '60s' });
    expect(calls[0]!.headers).not.toHaveProperty('Prefer');
  });
});
