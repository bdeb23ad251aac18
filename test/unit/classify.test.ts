import { describe, expect, it } from 'vitest';
import { classifyHttpError, classifyNetworkError } from '../../src/shared/classify';
import { ReplicateErrorType, ReplicateTransientType } from '../../src/shared/failures';

const NOW = Date.parse('2026-11-25T12:00:00Z');
const h = (o: Record<string, string> = {}) => new Headers(o);

describe('classifyHttpError', () => {
  it.each([
    [401, ReplicateErrorType.Unauthorized, 'REPLICATE_API_TOKEN'],
    [402, ReplicateErrorType.PaymentRequired, 'billing'],
    [403, ReplicateErrorType.Forbidden, 'no access'],
    [404, ReplicateErrorType.NotFound, 'check the model'],
    [400, ReplicateErrorType.RequestRejected, 'rejected'],
    [413, ReplicateErrorType.RequestRejected, 'too large'],
  ])('%i is non-retryable %s with a fix', (status, type, hint) => {
    const c = classifyHttpError('create prediction', status, h(), '{"detail":"nope","status":1}', NOW);
    expect(c).toMatchObject({ type, nonRetryable: true, status, detail: 'nope' });
    expect(c.message).toContain('nope');
    expect(c.message).toContain(hint);
  });

  it('quotes 422 detail and invalid_fields', () => {
    const body = JSON.stringify({
      title: 'Input validation failed',
      detail: '- input: prompt is required\n',
      status: 422,
      invalid_fields: [{ type: 'required', field: 'input', description: 'prompt is required' }],
    });
    const c = classifyHttpError('create prediction', 422, h(), body, NOW);
    expect(c.type).toBe(ReplicateErrorType.InvalidInput);
    expect(c.nonRetryable).toBe(true);
    expect(c.message).toContain('Input validation failed: - input: prompt is required');
    expect(c.message).toContain('invalid fields: input: prompt is required');
    expect(c.invalidFields).toHaveLength(1);
  });

  it('5xx is retryable, plain text bodies are quoted', () => {
    const c = classifyHttpError('get prediction x', 502, h(), 'Bad Gateway', NOW);
    expect(c).toMatchObject({ type: ReplicateTransientType.ServerError, nonRetryable: false });
    expect(c.message).toContain('Bad Gateway');
  });

  describe('429 delay', () => {
    const throttled = (headers: Record<string, string>, body: object) =>
      classifyHttpError('create prediction', 429, h(headers), JSON.stringify(body), NOW);

    it('prefers the Retry-After header in seconds', () => {
      const c = throttled(
        { 'Retry-After': '7', 'ratelimit-reset': '1' },
        { detail: 'available in 2 seconds', retry_after: 3 },
      );
      expect(c).toMatchObject({
        type: ReplicateTransientType.RateLimited,
        nonRetryable: false,
        nextRetryDelayMs: 7000,
      });
    });
    it('reads Retry-After as an HTTP date', () => {
      expect(throttled({ 'Retry-After': new Date(NOW + 12_000).toUTCString() }, {}).nextRetryDelayMs).toBe(
        12_000,
      );
    });
    it('then the body retry_after', () => {
      expect(throttled({}, { detail: 'x', retry_after: 5 }).nextRetryDelayMs).toBe(5000);
    });
    it('then the number in detail, both phrasings', () => {
      expect(
        throttled({}, { detail: 'Request was throttled. Expected available in 1 second.' }).nextRetryDelayMs,
      ).toBe(1000);
      expect(
        throttled({}, { detail: 'Request was throttled. Your rate limit resets in ~30s.' }).nextRetryDelayMs,
      ).toBe(30_000);
    });
    it('then ratelimit-reset, else undefined', () => {
      expect(throttled({ 'ratelimit-reset': '2' }, {}).nextRetryDelayMs).toBe(2000);
      expect(throttled({}, {}).nextRetryDelayMs).toBeUndefined();
    });
  });
});

describe('classifyNetworkError', () => {
  it('timeouts and resets are retryable network errors with the reason', () => {
    const timeout = classifyNetworkError(
      'get prediction x',
      Object.assign(new Error('t'), { name: 'TimeoutError' }),
      1500,
    );
    expect(timeout).toMatchObject({ type: ReplicateTransientType.NetworkError, nonRetryable: false });
    expect(timeout.message).toContain('no answer within 1500 ms');
    const reset = classifyNetworkError(
      'create prediction',
      new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } }),
      1,
    );
    expect(reset.message).toContain('fetch failed: ECONNRESET');
  });
});

describe('408 Request Timeout', () => {
  it('is retried like a server error: the request never reached the API in time', () => {
    const c = classifyHttpError('get prediction', 408, h(), 'Request Timeout', NOW);
    expect(c).toMatchObject({ type: ReplicateTransientType.ServerError, nonRetryable: false, status: 408 });
    expect(c.message).toContain('will retry');
  });
});
