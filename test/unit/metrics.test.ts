/**
 * The metrics' pieces without a server: METRICS_PORT/METRICS_HOST (clear errors), the exporter options (exact
 * names need no prefix or suffix options; our histograms' buckets), one `replicate_api_requests_total` per HTTP
 * exchange with its operation and code, and one `replicate_webhooks_total` per delivery with its outcome.
 */
import { createHmac } from 'node:crypto';
import type { MetricMeter, MetricTags } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { replicateCall } from '../../src/activities/replicate-client';
import { ConfigError, readMetrics } from '../../src/config';
import {
  METRIC_NAMES,
  apiOperationOf,
  prometheusMetrics,
  withPrometheus,
} from '../../src/observability/metrics';
import { WebhookHandler } from '../../src/webhooks/handler';
import { createWebhookHandler } from '../../src/webhooks';
import type { Client } from '@temporalio/client';

/** A meter that keeps every recorded value as `name{k=v,...} -> sum`. */
function recordingMeter() {
  const values = new Map<string, number>();
  const key = (name: string, tags: MetricTags = {}) =>
    `${name}{${Object.entries(tags)
      .sort()
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(',')}}`;
  const add = (name: string) => (value: number, tags?: MetricTags) =>
    values.set(key(name, tags), (values.get(key(name, tags)) ?? 0) + value);
  const meter = {
    createCounter: (name: string) => ({ add: add(name) }),
    createHistogram: (name: string) => ({ record: add(name) }),
  } as unknown as MetricMeter;
  return { meter, values: () => Object.fromEntries(values) };
}

describe('METRICS_PORT and METRICS_HOST', () => {
  it('are off when unset, on with a port (host 127.0.0.1 by default: this machine only)', () => {
    expect(readMetrics({})).toEqual({});
    expect(readMetrics({ METRICS_PORT: ' 9464 ' })).toEqual({ metrics: { port: 9464, host: '127.0.0.1' } });
    expect(readMetrics({ METRICS_PORT: '9464', METRICS_HOST: '::1' })).toEqual({
      metrics: { port: 9464, host: '::1' },
    });
  });

  it('refuse a bad port or a host name, naming the variable', () => {
    for (const port of ['0', 'abc', '70000', '94.64'])
      expect(() => readMetrics({ METRICS_PORT: port })).toThrow(
        new ConfigError(
          `METRICS_PORT="${port}" must be a port number (1-65535) for Prometheus' GET /metrics, or unset (no metrics)`,
        ),
      );
    expect(() => readMetrics({ METRICS_PORT: '9464', METRICS_HOST: 'localhost' })).toThrow(
      /^METRICS_HOST="localhost" must be an IP address/,
    );
  });
});

describe('exporter options', () => {
  it('bind the address (IPv6 in brackets) and give our two histograms seconds buckets; nothing else changes', () => {
    const options = prometheusMetrics({ port: 9464, host: '::' });
    expect(options).toEqual({
      prometheus: {
        bindAddress: '[::]:9464',
        histogramBucketOverrides: {
          replicate_predict_time_seconds: [0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600],
          replicate_completion_lag_seconds: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
        },
      },
    });
    const base = { telemetryOptions: { logging: { forward: {} } } };
    expect(withPrometheus(base, undefined)).toBe(base);
    expect(withPrometheus(base, { port: 1, host: '127.0.0.1' }).telemetryOptions).toEqual({
      logging: { forward: {} },
      metrics: prometheusMetrics({ port: 1, host: '127.0.0.1' }),
    });
  });

  it('list the contract names', () => {
    expect(METRIC_NAMES).toEqual([
      'replicate_predictions_total',
      'replicate_predict_time_seconds',
      'replicate_api_requests_total',
      'replicate_completion_lag_seconds',
      'replicate_adoptions_total',
      'replicate_orphans_canceled_total',
      'replicate_webhooks_total',
    ]);
  });
});

describe('replicate_api_requests_total', () => {
  const config = (respond: (url: unknown, init: RequestInit) => Promise<Response>) => ({
    token: 't',
    baseUrl: 'http://sim.test/v1',
    fetch: respond as typeof fetch,
  });
  const get = (client: import('replicate').default) => client.predictions.get('abc');

  it('counts each exchange once: its status code, or network (reset, timeout)', async () => {
    const { meter, values } = recordingMeter();
    const json = (status: number) => () =>
      Promise.resolve(new Response(JSON.stringify({ id: 'abc' }), { status }));
    await replicateCall(config(json(200)), { operation: 'get prediction abc', timeoutMs: 1000, meter }, get);
    for (const [status, operation] of [
      [500, 'get prediction abc'],
      [429, 'create prediction for m'],
      [404, 'cancel extra prediction abc'],
    ] as const)
      await replicateCall(config(json(status)), { operation, timeoutMs: 1000, meter }, get).catch(() => {});
    const reset = () => Promise.reject(new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } }));
    await replicateCall(config(reset), { operation: 'list predictions', timeoutMs: 1000, meter }, get).catch(
      () => {},
    );
    // no answer: our timeout aborts the request
    const hung = (_url: unknown, init: RequestInit) =>
      new Promise<Response>((_, reject) =>
        init.signal!.addEventListener('abort', () => reject(init.signal!.reason as Error)),
      );
    await replicateCall(config(hung), { operation: 'get prediction abc', timeoutMs: 20, meter }, get).catch(
      () => {},
    );
    expect(values()).toEqual({
      'replicate_api_requests_total{code=200,operation=get}': 1,
      'replicate_api_requests_total{code=500,operation=get}': 1,
      'replicate_api_requests_total{code=429,operation=create}': 1,
      'replicate_api_requests_total{code=404,operation=cancel}': 1,
      'replicate_api_requests_total{code=network,operation=list}': 1,
      'replicate_api_requests_total{code=network,operation=get}': 1,
    });
  });

  it('takes the operation from the first word of every call site', () => {
    expect(
      [
        'create prediction for sim/echo',
        'create training for a/b:v',
        'get prediction abc',
        'get the webhook signing secret',
        'cancel training abc',
        'cancel extra prediction abc',
        'list predictions',
        'download output',
      ].map(apiOperationOf),
    ).toEqual(['create', 'create', 'get', 'get', 'cancel', 'cancel', 'list', undefined]);
  });
});

describe('replicate_webhooks_total', () => {
  const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
  const signed = (id: string, body: string) => {
    const ts = Math.floor(Date.now() / 1000);
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const mac = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
    return {
      headers: { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': `v1,${mac}` },
      body,
    };
  };

  it('counts one outcome per delivery: accepted, duplicate, rejected (adapters too), late', async () => {
    const { meter, values } = recordingMeter();
    const handler = new WebhookHandler({
      secret,
      metricMeter: meter,
      log: () => {},
      deliver: async ({ workflowId }) => (workflowId === 'closed' ? 'late' : undefined),
    });
    const body = '{"id":"p1","status":"succeeded"}';
    expect((await handler.handle({ ...signed('msg_1', body), workflowId: 'wf' })).status).toBe(200);
    expect((await handler.handle({ ...signed('msg_1', body), workflowId: 'wf' })).body).toEqual({
      duplicate: true,
    });
    expect((await handler.handle({ ...signed('msg_2', body), workflowId: 'closed' })).body).toMatchObject({
      late: true,
    });
    const forged = { ...signed('msg_3', body), workflowId: 'wf' };
    forged.headers['webhook-signature'] = 'v1,Zm9yZ2Vk';
    expect((await handler.handle(forged)).status).toBe(401);
    handler.reject(413, 'too-large'); // what an adapter refuses before handle()
    expect(values()).toEqual({
      'replicate_webhooks_total{outcome=accepted}': 1,
      'replicate_webhooks_total{outcome=duplicate}': 1,
      'replicate_webhooks_total{outcome=late}': 1,
      'replicate_webhooks_total{outcome=rejected}': 2,
    });
  });
});

describe('createWebhookHandler({ metricMeter })', () => {
  it("counts on the embedder's own meter", async () => {
    const { meter, values } = recordingMeter();
    const handler = createWebhookHandler({
      client: {} as Client, // a rejected delivery never reaches Temporal
      secret: `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`,
      replicate: { token: 'r8_unused', baseUrl: 'http://127.0.0.1:1/v1' },
      log: () => {},
      metricMeter: meter,
    });
    const response = await handler.handle({
      headers: { 'webhook-id': 'msg_1', 'webhook-timestamp': '1', 'webhook-signature': 'v1,Zm9yZ2Vk' },
      body: '{}',
      workflowId: 'wf',
    });
    expect(response.status).toBe(401);
    expect(values()).toEqual({ 'replicate_webhooks_total{outcome=rejected}': 1 });
  });
});
