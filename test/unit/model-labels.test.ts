/** The `model` label's values are bounded: named models, models that succeeded here (up to a cap), else `other`. */
import type { MetricMeter, MetricTags } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { readWorkerConfig } from '../../src/config';
import {
  MAX_SEEN_MODELS,
  ModelLabels,
  OTHER_MODEL_LABEL,
  withBoundedModelLabels,
} from '../../src/observability/model-labels';

describe('ModelLabels', () => {
  it('300 client-chosen models make at most MAX_SEEN_MODELS + named + 1 label values', () => {
    const labels = new ModelLabels(['acme/named']);
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) seen.add(labels.label(`x/m${i}`, true));
    for (let i = 0; i < 300; i++) seen.add(labels.label(`y/m${i}`, false));
    seen.add(labels.label('acme/named', false));
    expect(seen.size).toBe(MAX_SEEN_MODELS + 2);
    expect(seen).toContain(OTHER_MODEL_LABEL);
    expect(labels.label('x/m0', false)).toBe('x/m0'); // succeeded once: keeps its name
    expect(labels.label('x/m299', true)).toBe(OTHER_MODEL_LABEL); // no room left
  });
});

describe('withBoundedModelLabels', () => {
  it('maps the model label of the run metrics, and nothing else', () => {
    const recorded: [string, number, MetricTags | undefined][] = [];
    const fake: MetricMeter = {
      createCounter: (name) =>
        ({
          name,
          kind: 'counter',
          valueType: 'int',
          add: (v: number, tags?: MetricTags) => recorded.push([name, v, tags]),
          withTags: () => fake.createCounter(name),
        }) as never,
      createHistogram: (name) =>
        ({
          name,
          kind: 'histogram',
          valueType: 'float',
          record: (v: number, tags?: MetricTags) => recorded.push([name, v, tags]),
          withTags: () => fake.createHistogram(name),
        }) as never,
      createGauge: () => {
        throw new Error('unused');
      },
      withTags: () => fake,
    };
    const meter = withBoundedModelLabels(fake, new ModelLabels()).withTags({ namespace: 'ns' });
    meter.createCounter('replicate_predictions_total').add(1, { model: 'a/b', status: 'failed' });
    meter.createCounter('replicate_predictions_total').add(1, { model: 'a/b', status: 'succeeded' });
    meter.createHistogram('replicate_predict_time_seconds').record(2, { model: 'a/b' });
    meter.createCounter('replicate_webhooks_total').add(1, { outcome: 'accepted', model: 'c/d' });
    expect(recorded).toEqual([
      ['replicate_predictions_total', 1, { model: 'other', status: 'failed' }],
      ['replicate_predictions_total', 1, { model: 'a/b', status: 'succeeded' }],
      ['replicate_predict_time_seconds', 2, { model: 'a/b' }],
      ['replicate_webhooks_total', 1, { outcome: 'accepted', model: 'c/d' }],
    ]);
  });
});

it('METRICS_MODELS is read as a list of models', () => {
  expect(
    readWorkerConfig({ REPLICATE_API_TOKEN: 't', METRICS_MODELS: 'a/b, c/d:v1 ,' }).metricsModels,
  ).toEqual(['a/b', 'c/d:v1']);
  expect(() => readWorkerConfig({ REPLICATE_API_TOKEN: 't', METRICS_MODELS: 'a b' })).toThrow(
    /METRICS_MODELS/,
  );
});
