/**
 * Smoke test of the benchmark harness (bench/): a tiny `compare` and a tiny `scale` run as child processes, and
 * the JSON they write has the expected shape and sane values.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { parseOptions } from '../bench/src/main';
import { sharedWorkflowBundlePath } from './helpers/shared-bundle';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..');
const dir = mkdtempSync(path.join(tmpdir(), 'bench-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function bench(...args: string[]): Promise<Record<string, unknown>> {
  const out = path.join(dir, `${args.join('-').replace(/[^a-z0-9.-]/gi, '')}.json`);
  await run(
    process.execPath,
    ['--import', 'tsx', 'bench/src/main.ts', ...args, '--out', out, '--max-minutes', '2'],
    {
      cwd: root,
      timeout: 110_000,
      // the suite's one workflow bundle for the bench's own Workers (each bench would bundle its own: seconds of CPU)
      env: { ...process.env, WORKFLOW_BUNDLE: sharedWorkflowBundlePath() ?? '' },
    },
  );
  expect(readFileSync(out.replace(/\.json$/, '.svg'), 'utf8')).toMatch(/^<svg /);
  return JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>;
}

interface Stats {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  min: number;
}

it(
  'compare: every approach completes every prediction, with calls ≥ 1 and lag ≥ 0',
  { timeout: 120_000 },
  async () => {
    const r = await bench('--scenario', 'compare', '--size', '3', '--time-factor', '0.02');
    expect(r.scenario).toBe('compare');
    const approaches = r.approaches as Array<{
      approach: string;
      byClass: Record<
        string,
        { n: number; completed: number; lagMs: Stats; callsPerPrediction: Stats; historyEvents: Stats | null }
      >;
    }>;
    expect(approaches.map((a) => a.approach)).toEqual([
      'direct',
      'polling',
      'polling-unscaled',
      'predictive',
      'webhooks',
    ]);
    for (const a of approaches) {
      const all = a.byClass.all!;
      expect(all).toMatchObject({ n: 3, completed: 3 });
      expect(all.lagMs.min).toBeGreaterThanOrEqual(0);
      expect(all.callsPerPrediction.min).toBeGreaterThanOrEqual(1);
      if (a.approach === 'direct') expect(all.historyEvents).toBeNull();
      else expect(all.historyEvents!.min).toBeGreaterThan(5);
    }
    expect(Array.isArray(r.targets)).toBe(true);
    expect(r.observability).toEqual({ mode: 'off', metrics: null, tracing: null });
  },
);

it('--observability: parsed for compare only, a bad value names the option and its values', () => {
  expect(parseOptions(['--observability', 'both']).observability).toBe('both');
  expect(parseOptions([]).observability).toBe('off');
  expect(() => parseOptions(['--observability', 'on'])).toThrow(
    '--observability must be one of off, metrics, tracing, both, got "on"',
  );
  expect(() => parseOptions(['--scenario', 'scale', '--observability', 'metrics'])).toThrow(
    '--observability goes with --scenario compare',
  );
});

it(
  'compare --observability both: the metrics endpoint was live (replicate_* series, one run end per workflow approach) and the OTLP sink received spans',
  { timeout: 120_000 },
  async () => {
    const r = await bench(
      '--scenario',
      'compare',
      '--size',
      '1',
      '--time-factor',
      '0.02',
      '--observability',
      'both',
    );
    const approaches = r.approaches as Array<{
      approach: string;
      cpuSeconds: number;
      warmUpRuns?: number;
      byClass: { all: { completed: number } };
    }>;
    for (const a of approaches) {
      expect(a.byClass.all.completed).toBe(1);
      expect(a.cpuSeconds).toBeGreaterThan(0);
    }
    const o = r.observability as {
      mode: string;
      metrics: {
        replicateSeries: number;
        replicateFamilies: number;
        sample: string[];
        runEnds: Record<string, number>;
      };
      tracing: { requests: number; bytes: number };
    };
    expect(o.mode).toBe('both');
    expect(o.metrics.replicateSeries).toBeGreaterThan(10);
    // four workflow approaches (polling, polling-unscaled, predictive, webhooks), one prediction each, plus the
    // predictive worker's unmeasured warm-up runs: every one a succeeded run
    const workflowApproaches = approaches.filter((a) => a.approach !== 'direct');
    expect(workflowApproaches.map((a) => a.approach).sort()).toEqual([
      'polling',
      'polling-unscaled',
      'predictive',
      'webhooks',
    ]);
    const warmUps = workflowApproaches.reduce((sum, a) => sum + (a.warmUpRuns ?? 0), 0);
    expect(warmUps).toBeGreaterThan(0);
    expect(o.metrics.runEnds).toEqual({ succeeded: workflowApproaches.length + warmUps });
    expect(
      o.metrics.sample.some(
        (l) => l.startsWith('replicate_completion_lag_seconds_count{') && l.includes('source="webhook"'),
      ),
    ).toBe(true);
    expect(o.tracing.requests).toBeGreaterThanOrEqual(1);
    expect(o.tracing.bytes).toBeGreaterThan(1_000);
  },
);

it('--codec: parsed for compare only, not with observability; a bad value names the option', () => {
  expect(parseOptions(['--codec', 'both']).codec).toBe('both');
  expect(parseOptions([]).codec).toBe('off');
  expect(() => parseOptions(['--codec', 'yes'])).toThrow('--codec must be one of off, on, both, got "yes"');
  expect(() => parseOptions(['--scenario', 'scale', '--codec', 'on'])).toThrow(
    '--codec goes with --scenario compare',
  );
  expect(() => parseOptions(['--codec', 'on', '--observability', 'metrics'])).toThrow(
    '--codec goes with --observability off',
  );
});

it(
  'compare --codec both: each workflow approach runs plain then encrypted, and the cost compares the two',
  { timeout: 120_000 },
  async () => {
    const r = await bench('--scenario', 'compare', '--size', '2', '--time-factor', '0.02', '--codec', 'both');
    const approaches = r.approaches as Array<{
      approach: string;
      byClass: { all: { completed: number } };
      codec?: { encodedPayloads: number; decodedPayloads: number; bytes: number; ms: number };
    }>;
    expect(approaches.map((a) => a.approach)).toEqual([
      'direct',
      'polling',
      'polling+codec',
      'polling-unscaled',
      'polling-unscaled+codec',
      'webhooks',
      'webhooks+codec',
    ]);
    for (const a of approaches) {
      expect(a.byClass.all.completed, a.approach).toBe(2);
      if (a.approach.endsWith('+codec')) {
        // the worker decrypts each start's input and encrypts each result; the client reads them back
        expect(a.codec!.encodedPayloads).toBeGreaterThanOrEqual(2 * 2);
        expect(a.codec!.decodedPayloads).toBeGreaterThanOrEqual(2 * 2);
        expect(a.codec!.bytes).toBeGreaterThan(0);
        expect(a.codec!.ms).toBeGreaterThan(0);
      } else expect(a.codec).toBeUndefined();
    }
    const cost = r.codecCost as Array<{
      approach: string;
      cpuSeconds: { ratio: number };
      codecMicrosPerPayload: number;
    }>;
    expect(cost.map((c) => c.approach)).toEqual(['polling', 'polling-unscaled', 'webhooks']);
    for (const c of cost) {
      expect(c.cpuSeconds.ratio).toBeGreaterThan(0);
      expect(c.codecMicrosPerPayload).toBeGreaterThan(0);
    }
  },
);

it(
  'scale: a tiny step on one worker process completes with CPU and RSS measured',
  { timeout: 120_000 },
  async () => {
    const r = await bench('--scenario', 'scale', '--size', '3', '--time-factor', '0.02');
    const steps = r.steps as Array<{
      size: number;
      completed: number;
      lagMs: Stats;
      callsPerPrediction: Stats;
      workflowTaskTimeouts: number;
      workflowTasksPerSecond: number;
      worker: { cpuSeconds: number; peakRssMb: number; vmHwmMb: number };
    }>;
    expect(steps.map((s) => s.size)).toEqual([3]);
    const [s] = steps;
    expect(s).toMatchObject({ size: 3, completed: 3, workflowTaskTimeouts: 0 });
    expect(s!.lagMs.min).toBeGreaterThanOrEqual(0);
    expect(s!.callsPerPrediction.min).toBeGreaterThanOrEqual(1);
    expect(s!.workflowTasksPerSecond).toBeGreaterThan(0);
    expect(s!.worker.vmHwmMb).toBeGreaterThan(20);
  },
);
