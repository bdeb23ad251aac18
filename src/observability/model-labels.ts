/**
 * Bounded values for the `model` label of the run metrics. The model string is the client's choice: one label
 * value per string would let anyone who can start a run add series without end (each a cost for Prometheus). A
 * model keeps its name when the operator named it (METRICS_MODELS, REPLICATE_MODEL_CONCURRENCY) or once one of
 * its runs succeeded in this process, up to MAX_SEEN_MODELS of those; every other run is counted as `other`.
 */
import type { MetricCounter, MetricHistogram, MetricMeter, MetricTags } from '@temporalio/common';
import { METRIC_DEFINITIONS } from './metrics';

export const OTHER_MODEL_LABEL = 'other';

/** How many models that succeeded here keep their own label, besides those the operator named. */
export const MAX_SEEN_MODELS = 100;

export class ModelLabels {
  private readonly named: Set<string>;
  private readonly seen = new Set<string>();

  constructor(
    named: Iterable<string> = [],
    private readonly maxSeen = MAX_SEEN_MODELS,
  ) {
    this.named = new Set(named);
  }

  /** The label for a run of `model`; `succeeded` admits the model (while there is room). */
  label(model: string, succeeded: boolean): string {
    if (this.named.has(model) || this.seen.has(model)) return model;
    if (succeeded && this.seen.size < this.maxSeen) {
      this.seen.add(model);
      return model;
    }
    return OTHER_MODEL_LABEL;
  }
}

/** The contract metrics that carry a `model` label (src/observability/metrics.ts). */
const MODEL_LABELLED: ReadonlySet<string> = new Set(
  Object.entries(METRIC_DEFINITIONS)
    .filter(([, d]) => (d.labels as readonly string[]).includes('model'))
    .map(([name]) => name),
);

/**
 * `meter` with the `model` label of the model-labelled metrics mapped through `labels` (a run's `status` label,
 * when `succeeded`, admits its model). Every other metric, and every other label, passes through unchanged.
 */
export function withBoundedModelLabels(meter: MetricMeter, labels: ModelLabels): MetricMeter {
  const map = (tags: MetricTags | undefined): MetricTags | undefined =>
    tags && typeof tags.model === 'string'
      ? { ...tags, model: labels.label(tags.model, tags.status === 'succeeded') }
      : tags;
  const counter = (inner: MetricCounter): MetricCounter => ({
    name: inner.name,
    unit: inner.unit,
    description: inner.description,
    kind: inner.kind,
    valueType: inner.valueType,
    add: (value, tags) => inner.add(value, map(tags)),
    withTags: (tags) => counter(inner.withTags(map(tags)!)),
  });
  const histogram = (inner: MetricHistogram): MetricHistogram => ({
    name: inner.name,
    unit: inner.unit,
    description: inner.description,
    kind: inner.kind,
    valueType: inner.valueType,
    record: (value, tags) => inner.record(value, map(tags)),
    withTags: (tags) => histogram(inner.withTags(map(tags)!)),
  });
  return {
    createCounter: (name, unit, description) => {
      const inner = meter.createCounter(name, unit, description);
      return MODEL_LABELLED.has(name) ? counter(inner) : inner;
    },
    createHistogram: (name, valueType, unit, description) => {
      const inner = meter.createHistogram(name, valueType, unit, description);
      return MODEL_LABELLED.has(name) ? histogram(inner) : inner;
    },
    createGauge: (name, valueType, unit, description) =>
      meter.createGauge(name, valueType, unit, description),
    ...(meter.createUpDownCounter ? { createUpDownCounter: meter.createUpDownCounter.bind(meter) } : {}),
    withTags: (tags) => withBoundedModelLabels(meter.withTags(tags), labels),
  };
}
