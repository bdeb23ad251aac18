/**
 * The Grafana dashboard and the Prometheus alerts query only what the code exports: every PromQL expression in
 * deploy/grafana/dashboards/replicate-temporal.json and deploy/prometheus/alerts.yml is parsed with the Prometheus
 * project's grammar (@prometheus-io/lezer-promql) and each selector must name a contract metric of
 * src/observability/metrics.ts (histograms through _bucket/_sum/_count) or a `temporal_*` metric seen in a real
 * scrape of the SDK's exporter (scripts/observability/temporal-sdk-metrics.ts), with labels those metrics carry.
 * promtool's own checks are `npm run -s observability:check` (docs/observability.md): not here, since promtool is
 * a Debian package this suite does not require.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { METRIC_DEFINITIONS, METRIC_NAMES, prometheusMetrics } from '../src/observability/metrics';
import {
  PROMETHEUS_SERIES,
  checkExpression,
  expandGrafanaVariables,
  seriesIndex,
  type Catalog,
} from '../scripts/observability/promql';
import { TEMPORAL_SDK_METRICS } from '../scripts/observability/temporal-sdk-metrics';

const ROOT = path.join(__dirname, '..');
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');

/** Our contract metrics, with only their contract labels (the SDK's context labels are not for dashboards). */
const CONTRACT: Catalog = Object.fromEntries(
  Object.entries(METRIC_DEFINITIONS).map(([name, def]) => [name, { type: def.kind, labels: def.labels }]),
);
const index = seriesIndex(CONTRACT, TEMPORAL_SDK_METRICS, PROMETHEUS_SERIES);

interface Target {
  refId: string;
  expr: string;
  legendFormat?: string;
  datasource?: { uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: unknown }> };
}
interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const dashboard = JSON.parse(read('deploy/grafana/dashboards/replicate-temporal.json')) as Dashboard;
const rules = (
  parse(read('deploy/prometheus/alerts.yml')) as { groups: Array<{ rules: Rule[] }> }
).groups.flatMap((g) => g.rules);
const panels = dashboard.panels.filter((p) => p.type !== 'row');
const queries = panels.flatMap((panel) =>
  (panel.targets ?? []).map((t) => ({
    where: `panel "${panel.title}" ${t.refId}`,
    expr: expandGrafanaVariables(t.expr),
    legend: t.legendFormat ?? '',
  })),
);

describe('the dashboard and the alerts', () => {
  it('have expressions that parse and use only exported metrics, with labels those metrics have', () => {
    const all = [
      ...queries.map((q) => ({ where: q.where, expr: q.expr })),
      ...rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
    ];
    expect(queries.length).toBeGreaterThanOrEqual(15);
    expect(rules.length).toBeGreaterThanOrEqual(8);
    const problems = all.flatMap(({ where, expr }) =>
      checkExpression(expr, index).problems.map((p) => `${where}: ${p}`),
    );
    expect(problems).toEqual([]);
  });

  it("name in legends and alert texts only labels the expression's result carries", () => {
    const problems: string[] = [];
    for (const q of queries) {
      const { resultLabels } = checkExpression(q.expr, index);
      for (const [, label] of q.legend.matchAll(/\{\{\s*(\w+)\s*\}\}/g))
        if (!resultLabels?.has(label!)) problems.push(`${q.where}: legend {{${label}}}`);
    }
    for (const rule of rules) {
      const { resultLabels } = checkExpression(rule.expr, index);
      const text = Object.values(rule.annotations ?? {}).join('\n');
      for (const [, label] of text.matchAll(/\$labels\.(\w+)/g))
        if (!resultLabels?.has(label!)) problems.push(`alert ${rule.alert}: $labels.${label}`);
    }
    expect(problems).toEqual([]);
  });

  it('the dashboard shows every contract metric and the SDK metrics of the issue', () => {
    const used = new Set(queries.flatMap((q) => checkExpression(q.expr, index).families));
    for (const name of METRIC_NAMES) expect(used, name).toContain(name);
    for (const name of [
      'temporal_workflow_task_execution_failed',
      'temporal_activity_execution_latency',
      'temporal_local_activity_execution_latency', // status polls are local activities
      'temporal_activity_schedule_to_start_latency',
    ])
      expect(used, name).toContain(name);
    // the model variable lists the models that have runs
    const model = dashboard.templating.list.find((v) => v.name === 'model')!;
    const query = (model.query as { query: string }).query;
    const [, metric, label] = /^label_values\((\w+),\s*(\w+)\)$/.exec(query)!;
    expect(CONTRACT[metric!]?.labels).toContain(label);
  });

  it('alerts on failure ratio per model, 429s, orphans canceled, completion lag p95, workflow task failures', () => {
    const uses = (rule: Rule, pattern: RegExp) => pattern.test(rule.expr.replace(/\s+/g, ' '));
    const covered = {
      failureRatio: rules.some(
        (r) =>
          uses(r, /sum by \(model\).*replicate_predictions_total\{status=~"[^"]*failed/) && uses(r, / \/ /),
      ),
      rateLimited: rules.some((r) => uses(r, /replicate_api_requests_total\{code="429"\}/)),
      orphans: rules.some((r) => uses(r, /replicate_orphans_canceled_total/)),
      lagP95: rules.some((r) =>
        uses(r, /histogram_quantile\(0\.95, .*replicate_completion_lag_seconds_bucket/),
      ),
      workflowTaskFailures: rules.some((r) => uses(r, /temporal_workflow_task_execution_failed/)),
    };
    expect(covered).toEqual({
      failureRatio: true,
      rateLimited: true,
      orphans: true,
      lagP95: true,
      workflowTaskFailures: true,
    });
    const names = rules.map((r) => r.alert);
    expect(new Set(names).size).toBe(names.length);
    for (const rule of rules) {
      expect(rule.alert, rule.alert).toMatch(/^[A-Z][A-Za-z0-9]+$/);
      expect(rule.for, `${rule.alert} for`).toMatch(/^\d+[smh]$/);
      expect(['critical', 'warning', 'info'], `${rule.alert} severity`).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, `${rule.alert} summary`).toBeTruthy();
      expect(rule.annotations?.description?.length, `${rule.alert} description`).toBeGreaterThan(80);
    }
  });

  it("the alerts' unit tests (promtool test rules) feed series the code really exports", () => {
    const tests = (
      parse(read('deploy/prometheus/alerts.test.yml')) as {
        rule_files: string[];
        tests: Array<{
          input_series: Array<{ series: string }>;
          alert_rule_test: Array<{ alertname: string }>;
        }>;
      }
    ).tests;
    expect(tests.length).toBeGreaterThanOrEqual(5);
    const problems = tests
      .flatMap((t) => t.input_series)
      .flatMap(({ series }) => checkExpression(series, index).problems.map((p) => `${series}: ${p}`));
    expect(problems).toEqual([]);
    const tested = new Set(tests.flatMap((t) => t.alert_rule_test.map((a) => a.alertname)));
    for (const name of tested) expect(rules.map((r) => r.alert)).toContain(name);
    expect(tested.size).toBeGreaterThanOrEqual(6);
  });

  it('the dashboard is well-formed: unique ids, the provisioned datasource, panels inside the grid and apart', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.uid).toBe('replicate-temporal');
    const datasource = dashboard.templating.list.find((v) => v.type === 'datasource')!;
    expect(datasource.query).toBe('prometheus');
    const occupied = new Map<string, string>();
    for (const panel of dashboard.panels) {
      const { x, y, w, h } = panel.gridPos;
      expect(x + w, panel.title).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++)
        for (let j = y; j < y + h; j++) {
          expect(occupied.get(`${i},${j}`), `${panel.title} overlaps`).toBeUndefined();
          occupied.set(`${i},${j}`, panel.title);
        }
      if (panel.type === 'row') continue;
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: `\${${datasource.name}}` });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const t of panel.targets!) expect(t.datasource?.uid).toBe(`\${${datasource.name}}`);
    }
  });

  it('the temporal_* list matches the exporter options the worker uses (the SDK defaults)', () => {
    // TEMPORAL_SDK_METRICS was scraped with the defaults: counters without _total, durations in milliseconds
    const { prometheus } = prometheusMetrics({ port: 9464, host: '0.0.0.0' }) as {
      prometheus: Record<string, unknown>;
    };
    expect(prometheus.countersTotalSuffix ?? false).toBe(false);
    expect(prometheus.useSecondsForDurations ?? false).toBe(false);
    expect(prometheus.unitSuffix ?? false).toBe(false);
    for (const name of Object.keys(TEMPORAL_SDK_METRICS)) expect(name).toMatch(/^temporal_[a-z_]+[a-z]$/);
    expect(
      Object.keys(TEMPORAL_SDK_METRICS).some(
        (n) => n.endsWith('_total') && n !== 'temporal_local_activity_total',
      ),
    ).toBe(false);
  });
});

describe('the expression checker', () => {
  const problems = (expr: string) => checkExpression(expr, index).problems;

  it('accepts what the code exports', () => {
    expect(problems('sum by (model) (rate(replicate_predictions_total{status="failed"}[5m]))')).toEqual([]);
    expect(
      checkExpression(
        'histogram_quantile(0.95, sum by (source, le) (rate(replicate_completion_lag_seconds_bucket[5m])))',
        index,
      ).resultLabels,
    ).toEqual(new Set(['source']));
  });

  it('rejects a misspelt metric, a bare histogram, a label the metric lacks, a grouping label not below, bad syntax', () => {
    expect(problems('rate(replicate_prediction_total[5m])')).toEqual([
      'replicate_prediction_total is not a metric the code exports (histograms: _bucket, _sum, _count)',
    ]);
    expect(problems('replicate_predict_time_seconds')).toHaveLength(1);
    expect(problems('replicate_webhooks_total{status="late"}')[0]).toMatch(/has no label "status"/);
    expect(problems('sum by (model) (rate(replicate_api_requests_total[5m]))')[0]).toMatch(/"model" in by/);
    expect(problems('temporal_workflow_task_execution_failed_total')).toHaveLength(1);
    expect(problems('sum(rate(replicate_predictions_total[5m])')[0]).toMatch(/does not parse/);
    expect(
      checkExpression('sum by (model) (rate(replicate_predictions_total[5m]))', index).resultLabels,
    ).not.toContain('status');
  });
});
