/**
 * Checks a PromQL expression against the metrics a process really exports: every selector names a known series
 * (a histogram only through its `_bucket`, `_sum` or `_count` series), every label it matches, groups by
 * (`by`, `without`, `on`, `ignoring`, `group_left`) exists on the series below it, and the labels the result
 * carries are computed, so a legend's `{{label}}` or an alert's `{{ $labels.x }}` can be checked too.
 *
 * Parsing is the Prometheus project's own grammar (@prometheus-io/lezer-promql, the parser of Prometheus' web UI),
 * so what it accepts is PromQL; the label bookkeeping on top of it is ours and deliberately small.
 */
import { parser } from '@prometheus-io/lezer-promql';

type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

export interface MetricSpec {
  type: 'counter' | 'gauge' | 'histogram';
  /** label names the exporter puts on the metric */
  labels: readonly string[];
}

export type Catalog = Readonly<Record<string, MetricSpec>>;

/** Added by Prometheus to every scraped series. */
export const TARGET_LABELS = ['job', 'instance'] as const;

/** Series Prometheus makes itself for each target. */
export const PROMETHEUS_SERIES: Catalog = { up: { type: 'gauge', labels: [] } };

interface Series {
  family: string;
  labels: ReadonlySet<string>;
}

/** Every series name a selector may use, from metric families. */
export function seriesIndex(...catalogs: Catalog[]): Map<string, Series> {
  const index = new Map<string, Series>();
  for (const catalog of catalogs) {
    for (const [family, spec] of Object.entries(catalog)) {
      const labels = new Set([...spec.labels, ...TARGET_LABELS]);
      if (spec.type === 'histogram') {
        index.set(`${family}_bucket`, { family, labels: new Set([...labels, 'le']) });
        index.set(`${family}_sum`, { family, labels });
        index.set(`${family}_count`, { family, labels });
      } else {
        index.set(family, { family, labels });
      }
    }
  }
  return index;
}

/**
 * Grafana's variables replaced by values Prometheus accepts: intervals by `5m`, `$model`-style multi-value
 * variables (used inside `=~"..."`) by `.*`.
 */
export function expandGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}/g, '5m')
    .replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, '.*');
}

export interface Checked {
  /** what is wrong, one line each; empty when the expression is fine */
  problems: string[];
  /** metric families used */
  families: string[];
  /** labels on the result's series (null: a scalar, or unknown because of a problem) */
  resultLabels: ReadonlySet<string> | null;
}

const EXPRESSION_NODES = new Set([
  'AggregateExpr',
  'BinaryExpr',
  'FunctionCall',
  'MatrixSelector',
  'NumberDurationLiteral',
  'OffsetExpr',
  'ParenExpr',
  'StepInvariantExpr',
  'StringLiteral',
  'SubqueryExpr',
  'UnaryExpr',
  'VectorSelector',
]);

/** Functions whose result keeps the labels of their (first vector) argument. */
const LABEL_KEEPING =
  /^(rate|irate|increase|delta|idelta|deriv|abs|ceil|floor|round|clamp(_min|_max)?|\w+_over_time)$/;

export function checkExpression(expr: string, index: Map<string, Series>): Checked {
  const problems: string[] = [];
  const families = new Set<string>();
  const tree = parser.parse(expr);
  tree.iterate({
    enter(node) {
      if (node.type.isError)
        problems.push(`does not parse at ${node.from}: "${expr.slice(node.from, node.from + 30)}"`);
    },
  });
  if (problems.length > 0) return { problems, families: [], resultLabels: null };

  const text = (node: SyntaxNode): string => expr.slice(node.from, node.to);
  const children = (node: SyntaxNode): SyntaxNode[] => {
    const out: SyntaxNode[] = [];
    for (let child = node.firstChild; child; child = child.nextSibling) out.push(child);
    return out;
  };
  const expressions = (node: SyntaxNode): SyntaxNode[] =>
    children(node).filter((c) => EXPRESSION_NODES.has(c.type.name));
  const grouping = (modifier: SyntaxNode | null): string[] =>
    modifier
      ? modifier
          .getChildren('GroupingLabels')
          .flatMap((g) => g.getChildren('LabelName'))
          .map(text)
      : [];

  const labelsOf = (node: SyntaxNode): Set<string> | null => {
    switch (node.type.name) {
      case 'PromQL':
      case 'ParenExpr':
      case 'OffsetExpr':
      case 'StepInvariantExpr':
      case 'SubqueryExpr':
      case 'MatrixSelector':
      case 'UnaryExpr': {
        const inner = expressions(node)[0];
        return inner ? labelsOf(inner) : null;
      }
      case 'NumberDurationLiteral':
      case 'StringLiteral':
        return null;
      case 'VectorSelector': {
        const name = node.getChild('Identifier');
        if (!name) {
          problems.push(`${text(node)}: a selector without a metric name`);
          return null;
        }
        const series = index.get(text(name));
        if (!series) {
          problems.push(`${text(name)} is not a metric the code exports (histograms: _bucket, _sum, _count)`);
          return null;
        }
        families.add(series.family);
        const matchers = node.getChild('LabelMatchers');
        for (const matcher of matchers ? children(matchers) : []) {
          const label = matcher.getChild('LabelName');
          if (label && !series.labels.has(text(label)))
            problems.push(
              `${text(name)} has no label "${text(label)}" (it has ${[...series.labels].join(', ')})`,
            );
        }
        return new Set(series.labels);
      }
      case 'FunctionCall': {
        const fn = text(node.getChild('FunctionIdentifier')!);
        const args = expressions(node.getChild('FunctionCallBody')!);
        const argLabels = args.map(labelsOf);
        if (fn === 'histogram_quantile') {
          const buckets = argLabels[1];
          if (buckets && !buckets.has('le'))
            problems.push(`histogram_quantile over series without "le": ${text(args[1]!)}`);
          if (!buckets) return null;
          const out = new Set(buckets);
          out.delete('le');
          return out;
        }
        if (LABEL_KEEPING.test(fn)) return argLabels.find((l) => l !== null) ?? null;
        if (fn === 'vector' || fn === 'scalar' || fn === 'time') return fn === 'vector' ? new Set() : null;
        problems.push(`function ${fn}: not known to this checker; teach scripts/observability/promql.ts`);
        return null;
      }
      case 'AggregateExpr': {
        const args = expressions(node.getChild('FunctionCallBody')!);
        const inner = labelsOf(args[args.length - 1]!);
        const modifier = node.getChild('AggregateModifier');
        const labels = grouping(modifier);
        if (inner) {
          for (const label of labels)
            if (!inner.has(label))
              problems.push(`"${label}" in ${text(modifier!)}: not a label of ${text(args.at(-1)!)}`);
        }
        if (!modifier) return new Set();
        if (modifier.getChild('Without'))
          return inner ? new Set([...inner].filter((l) => !labels.includes(l))) : null;
        return new Set(labels);
      }
      case 'BinaryExpr': {
        const [left, right] = expressions(node);
        const l = labelsOf(left!);
        const r = labelsOf(right!);
        const matching = node.getChild('MatchingModifierClause');
        const on = grouping(matching);
        for (const label of on) {
          for (const side of [l, r])
            if (side && !side.has(label))
              problems.push(`"${label}" in ${text(matching!)}: missing on one side`);
        }
        if (l === null) return r;
        if (r === null) return l;
        if (node.getChild('Or')) return new Set([...l].filter((x) => r.has(x)));
        if (matching?.getChild('On') && !matching.getChild('GroupLeft') && !matching.getChild('GroupRight'))
          return new Set(on);
        return l;
      }
      default:
        problems.push(`${node.type.name}: not known to this checker`);
        return null;
    }
  };
  const resultLabels = labelsOf(tree.topNode);
  return { problems, families: [...families], resultLabels: problems.length > 0 ? null : resultLabels };
}
