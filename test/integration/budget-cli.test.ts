/**
 * Budgets through the CLI against a dev server, a worker and the simulator: `run`/`start` with --max-cost and
 * --price or --prices, `status` and `pipeline status` showing the running cost and the budget left, a budgeted
 * pipeline stopped at its crossing, a crossing that finds its job already ended (a run, a webhook run whose
 * completion is delivered late, a pipeline), and the flag errors (exit 2, naming the flag and the fix).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT, type PipelineSummary, type RunSummary } from '../../src/cli';
import type { PredictionState } from '../../src/shared/types';
import { startWebhookReceiver } from '../../src/webhooks';
import { SECRET_TOKEN, cliLive, startTestbed, type Testbed } from '../helpers/testbed';

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

// a: $1/s for 3.5 s ($3.5), under a $4 budget whose crossing (4.1 s after the create) the parent's timer reaches
// before a's next poll (7 s) sees that a ended (3.6 s); b is cheap.
const RACE_SPEC = path.join(dir, 'race.yaml');
writeFileSync(
  RACE_SPEC,
  `name: race
prices: { sim/paid: 1, sim/cheap: 0.1 }
budget: { usd: 4 }
steps:
  a:
    model: sim/paid
    input: { prompt: hi }
    polling: { initialIntervalMs: 1000, multiplier: 6, maxIntervalMs: 6000 }
  b:
    model: sim/cheap
    input: { prompt: '{{ steps.a.output }}' }
`,
);

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed();
  // starts after 100 ms, runs 30 s: every budget here is reached long before it ends
  bed.sim.setModel('sim/long', { startDelayMs: 100, durationMs: 30_000, output: 'done' });
  bed.sim.setModel('sim/paid', { startDelayMs: 100, durationMs: 3_500, output: 'paid' });
  bed.sim.setModel('sim/cheap', { startDelayMs: 100, durationMs: 300, output: 'cheap' });
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
    // cancel exits 0 once the run has stopped (docs/cli.md)
    expect((await cli('cancel', workflowId)).code).toBe(EXIT.ok);
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

describe('a crossing that finds its job already ended (the timer fires after the job ended, before a poll saw it)', () => {
  /** The cancel requests the simulator answered for `id`, with the prediction's end: every one came after it. */
  const cancelsAfterTheEnd = (id: string) => {
    const ended = Date.parse(bed.sim.prediction(id)!.completed_at!);
    const cancels = bed.sim.requests.filter((r) => r.predictionId === id && r.route.endsWith('.cancel'));
    return { cancels: cancels.length, allAfterTheEnd: cancels.every((r) => r.at >= ended) };
  };

  it('run --max-cost: the cancel finds the job succeeded; its result is returned, exit 0', async () => {
    // polls at 3 s (running, started_at) and 7.5 s; the job ends at 3.6 s; the $4 crossing at 4.1 s
    const { code, out } = await cli(
      'run',
      '--model',
      'sim/paid',
      '--input',
      '{"prompt":"single"}',
      '--max-cost',
      '4',
      '--price',
      '1',
      '--json',
    );
    const summary = JSON.parse(out[0]!) as RunSummary;
    expect(code, JSON.stringify(summary.error)).toBe(EXIT.ok);
    expect(summary).toMatchObject({ status: 'succeeded', output: 'paid', error: null });
    expect(bed.sim.prediction(summary.predictionId!)!.status).toBe('succeeded');
    expect(cancelsAfterTheEnd(summary.predictionId!)).toEqual({ cancels: 1, allAfterTheEnd: true });
  });

  it('webhooks, the completion delivered late: the cancel finds the job succeeded; its result is returned', async () => {
    // every delivery 2 s late: the start (2.1 s) sets the timer, the crossing (4.1 s) comes before `completed` (5.6 s)
    const receiver = await startWebhookReceiver({
      client: bed.env.client,
      port: 0,
      secret: null,
      replicate: { token: SECRET_TOKEN, baseUrl: bed.sim.baseUrl },
    });
    bed.sim.setFaults({ webhookDelayMs: 2_000 });
    try {
      await bed.withWorker(
        { webhook: { baseUrl: receiver.origin, port: null, secret: null } },
        async (taskQueue) => {
          const handle = await bed.start(
            { model: 'sim/paid', input: { prompt: 'hooked' }, maxCostUsd: 4, pricePerSecondUsd: 1 },
            { taskQueue },
          );
          const result = await handle.result();
          expect(result).toMatchObject({ status: 'succeeded', output: 'paid' });
          expect(cancelsAfterTheEnd(result.id)).toEqual({ cancels: 1, allAfterTheEnd: true });
          // no GET: the start webhook told the run, the cancel's answer ended it (fallback polling waits 60 s)
          const gets = bed.sim.requests.filter(
            (r) => r.predictionId === result.id && r.route.endsWith('.get'),
          );
          expect(gets).toEqual([]);
        },
      );
    } finally {
      bed.sim.setFaults({});
      await receiver.stop();
    }
  });

  it('pipeline run: a $3.5 job found succeeded at the $4 crossing keeps its result, b runs, exit 0', async () => {
    const { code, out } = await cli(
      'pipeline',
      'run',
      RACE_SPEC,
      '--pipeline-id',
      `race-${Date.now()}`,
      '--json',
    );
    const summary = JSON.parse(out[0]!) as PipelineSummary;
    const created = bed.sim
      .predictionIds()
      .filter((id) => ['sim/paid', 'sim/cheap'].includes(bed.sim.prediction(id)!.model))
      .filter((id) => ['hi', 'paid'].includes(String(bed.sim.prediction(id)!.input?.prompt)));
    console.log(
      `budget race on a dev server: pipeline ${summary.status}${summary.error ? ` (${summary.error.type})` : ''}, ${created.length} predictions created, b ${summary.steps.b?.status === 'succeeded' ? 'ran' : 'never ran'}`,
    );
    expect(code, JSON.stringify(summary.error)).toBe(EXIT.ok);
    expect(summary.steps.a).toMatchObject({ status: 'succeeded', outputs: ['paid'] });
    expect(summary.steps.b).toMatchObject({ status: 'succeeded', outputs: ['cheap'] });
    const [a] = summary.steps.a!.predictionIds;
    expect(bed.sim.prediction(a!)!.status).toBe('succeeded');
    expect(cancelsAfterTheEnd(a!)).toEqual({ cancels: 1, allAfterTheEnd: true });
    const budget = summary.cost!.budget!;
    expect(budget).toMatchObject({ exceeded: null, canceledUsd: 0, canceledPredictionIds: [] });
    expect(budget.completedUsd).toBeGreaterThan(3.5);
    expect(budget.completedUsd).toBeLessThan(4);
  });
});
