/**
 * Budgets through the CLI against a dev server, a worker and the simulator: `run`/`start` with --max-cost and
 * --price or --prices, `status` and `pipeline status` showing the running cost and the budget left, a budgeted
 * pipeline stopped at its crossing, and the flag errors (exit 2, naming the flag and the fix).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT, type PipelineSummary, type RunSummary } from '../../src/cli';
import type { PredictionState } from '../../src/shared/types';
import { cliLive, startTestbed, type Testbed } from '../helpers/testbed';

const dir = mkdtempSync(path.join(tmpdir(), 'budget-cli-'));
const PRICES = path.join(dir, 'prices.yaml');
writeFileSync(PRICES, 'sim/long: 0.001\nsim/other: 0.5\n');
const BAD_PRICES = path.join(dir, 'bad-prices.yaml');
writeFileSync(BAD_PRICES, 'sim/long: cheap\n');
const SPEC = path.join(dir, 'budgeted.yaml');
writeFileSync(
  SPEC,
  `name: budgeted
prices: { sim/long: 0.001 }
budget: { usd: 0.006 }
steps:
  fan:
    model: sim/long
    count: 2
    input: { prompt: hi }
  after:
    model: sim/long
    input: { prompt: '{{ steps.fan.outputs }}' }
`,
);

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed();
  // starts after 100 ms, runs 30 s: every budget here is reached long before it ends
  bed.sim.setModel('sim/long', { startDelayMs: 100, durationMs: 30_000, output: 'done' });
});
afterAll(async () => {
  await bed?.teardown();
});

const cli = (...argv: string[]) =>
  cliLive(bed, { readFile: (file) => readFileSync(file, 'utf8') }, ...argv).done;

describe('run / start with a budget', () => {
  it('run --max-cost --price: the job is canceled at Replicate at the crossing, BudgetExceeded, exit 1', async () => {
    const started = Date.now();
    const { code, out } = await cli(
      'run',
      '--model',
      'sim/long',
      '--input',
      '{"prompt":"hi"}',
      '--max-cost',
      '0.004',
      '--price',
      '0.001',
      '--json',
    );
    expect(code).toBe(EXIT.failed);
    const summary = JSON.parse(out[0]!) as RunSummary;
    expect(summary.error?.type).toBe('BudgetExceeded');
    expect(summary.error?.message).toMatch(/reached its budget of \$0\.004: \$0\.004\d* spent/);
    const p = bed.sim.prediction(summary.predictionId!)!;
    expect(p.status).toBe('canceled');
    // canceled about 4 s after it started (the durable timer at the crossing), not at the end (30 s)
    const ranMs = Date.parse(p.completed_at!) - Date.parse(p.started_at!);
    console.log(`budget overshoot, run on a dev server: billed ${ranMs - 4_000} ms past the budget`);
    expect(ranMs).toBeGreaterThanOrEqual(4_000);
    expect(ranMs).toBeLessThan(6_000);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('start --prices FILE, then status shows the running cost and the budget left (text and --json)', async () => {
    const { code, out } = await cli(
      'start',
      '--model',
      'sim/long',
      '--input',
      '{"prompt":"hi"}',
      '--max-cost',
      '1',
      '--prices',
      PRICES,
    );
    expect(code).toBe(EXIT.ok);
    const workflowId = out[0]!;
    // the first poll (3 s) learns started_at; until then the cost is 0
    let state: (PredictionState & { cost?: { costUsd: number; leftUsd: number } }) | undefined;
    for (let i = 0; i < 100 && !state?.budget?.jobStartedAt; i++) {
      await new Promise((r) => setTimeout(r, 100)); // polling a live system for a state, bounded: not a sync sleep
      state = JSON.parse((await cli('status', workflowId, '--json')).out[0]!);
    }
    expect(state!.budget).toMatchObject({ maxCostUsd: 1, pricePerSecondUsd: 0.001, predictTime: null });
    expect(state!.cost!.costUsd).toBeGreaterThan(0.002);
    expect(state!.cost!.costUsd + state!.cost!.leftUsd).toBeCloseTo(1, 6);
    const text = await cli('status', workflowId);
    expect(text.out.find((l) => l.startsWith('  budget'))).toMatch(
      /^ {2}budget {6}\$1 · running cost \$0\.00\d+ · left \$0\.99\d+ \(at \$0\.001\/s\)$/,
    );
    expect((await cli('cancel', workflowId)).code).toBe(EXIT.failed);
  });

  it.each([
    [['--max-cost', '0.5'], /--max-cost needs the model's price: --price USD_PER_SECOND .* or --prices FILE/],
    [['--price', '0.001'], /--price is only used with --max-cost USD/],
    [['--max-cost', 'lots', '--price', '0.001'], /--max-cost: "lots" is not a positive number of USD/],
    [['--max-cost', '1', '--price', '0.001', '--prices', PRICES], /give the price once/],
    [['--max-cost', '1', '--prices', BAD_PRICES], /--prices\.sim\/long: must be a non-negative number/],
    [
      ['--max-cost', '1', '--model', 'sim/echo', '--prices', PRICES],
      /has no price for sim\/echo; add "sim\/echo: USD_PER_SECOND"/,
    ],
  ])('%j -> exit 2 naming the flag', async (flags, message) => {
    const model = flags.includes('--model') ? [] : ['--model', 'sim/long'];
    const { code, err } = await cli('run', ...model, '--input', '{}', ...flags);
    expect(code).toBe(EXIT.usage);
    expect(err[0]).toMatch(message);
  });
});

describe('pipeline with budget: { usd }', () => {
  it('pipeline run: 2 running jobs canceled at the crossing, the next step never starts; pipeline status shows the budget', async () => {
    const { code, out } = await cli(
      'pipeline',
      'run',
      SPEC,
      '--pipeline-id',
      `budget-${Date.now()}`,
      '--json',
    );
    expect(code).toBe(EXIT.failed);
    const summary = JSON.parse(out[0]!) as PipelineSummary;
    expect(summary.error?.type).toBe('BudgetExceeded');
    expect(summary.error?.message).toMatch(/reached its budget of \$0\.006: .* in step fan/);
    expect(summary.steps.fan!.status).toBe('canceled');
    expect(summary.steps.after).toMatchObject({
      status: 'skipped',
      error: 'skipped: the budget of $0.006 was reached',
    });
    const budget = summary.cost!.budget!;
    expect(budget.exceeded!.predictionIds).toHaveLength(2);
    for (const id of budget.exceeded!.predictionIds) expect(bed.sim.prediction(id)!.status).toBe('canceled');
    expect(budget.canceledPredictionIds.sort()).toEqual([...budget.exceeded!.predictionIds].sort());
    expect(budget.completedUsd).toBe(0);
    expect(budget.canceledUsd).toBeGreaterThanOrEqual(0.006 - 1e-6);
    // What Replicate (the simulator) billed: the overshoot on a real server, against one polling interval
    // (the children learn started_at at their 3 s poll, the crossing is ~3 s after the jobs start)
    const billedUsd = budget.exceeded!.predictionIds.reduce(
      (sum, id) => sum + bed.sim.prediction(id)!.metrics!.predict_time! * 0.001,
      0,
    );
    console.log(
      `budget overshoot, pipeline on a dev server (polling): billed $${(billedUsd - 0.006).toFixed(5)}`,
    );
    expect(billedUsd).toBeGreaterThanOrEqual(0.006 - 0.0005);
    expect(billedUsd - 0.006).toBeLessThan(2 * 0.001 * 4.5); // two jobs, one 4.5 s polling interval
    // the next step was never created: no prediction's input is the fan-out's outputs
    expect(
      bed.sim.predictionIds().filter((id) => Array.isArray(bed.sim.prediction(id)!.input?.prompt)),
    ).toEqual([]);

    const status = await cli('pipeline', 'status', summary.pipelineId);
    expect(status.out[1]).toMatch(
      /^ {2}budget \$0\.006 · spent \$0\.00\d+ \(completed \$0, canceled \$0\.00\d+, running \$0 in 0 jobs\) · left \$0\.?\d* · EXCEEDED$/,
    );
  });
});
