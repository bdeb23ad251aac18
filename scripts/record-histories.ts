/**
 * Record the histories of the workflows' paths into test/histories/<release>/, for the replay test:
 * `npm run record-histories -- 1.1` after a change of workflow behaviour (gated with patched()); keep the older
 * folders: they are what runs started by older releases look like, and the replay test keeps new code compatible
 * with them. The worker setup is production's (workerOptionsAll with readWorkerConfig's default rate limits).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ensureBinary, PROJECT_ROOT, TEMPORAL_CLI } from '../src/dev/binaries';
import type { WorkflowHandle } from '@temporalio/client';
import { loadPipelineFile } from '../src/client/pipeline-file';
import { DEFAULT_CREATE_RPM, DEFAULT_READ_RPM } from '../src/worker/flow-control';
import { slotKey, slotsWorkflowId } from '../src/shared/slots';
import { reconcileOrphans, runPipeline } from '../src/workflows';
import { progressQuery } from '../src/workflows/pipeline';
import { approveStep } from '../src/client/approve';
import { rerunPipeline } from '../src/client/rerun';
import { startWebhookReceiver } from '../src/webhooks';
import { FAST_POLLING, SECRET_TOKEN, startTestbed } from '../test/helpers/testbed';

async function main(): Promise<void> {
  const release = process.argv[2];
  if (!release || !/^\d+\.\d+$/.test(release))
    throw new Error('usage: npm run record-histories -- <major.minor>');
  const folder = path.join(PROJECT_ROOT, 'test', 'histories', release);
  mkdirSync(folder, { recursive: true });
  const bed = await startTestbed(
    {},
    { replicateRateLimits: { createsPerMinute: DEFAULT_CREATE_RPM, readsPerMinute: DEFAULT_READ_RPM } },
  );
  // [file name, workflow id]: the runs' ids are history-<name> (the replay test replays them under that id)
  const recorded: [string, string][] = [];
  try {
    const runs = {
      succeeded: { model: 'google/imagen-4-ultra', input: { prompt: 'a lighthouse at dusk' } },
      failed: { model: 'sim/fail', input: {} },
      aborted: { model: 'sim/abort', input: {} },
      'invalid-input-422': { model: 'google/imagen-4-ultra', input: {} },
      'user-canceled': { model: 'sim/never', input: {} },
      deadline: { model: 'sim/never', input: {} },
    };
    const handles: [string, WorkflowHandle][] = [];
    for (const [name, request] of Object.entries(runs)) {
      const handle = await bed.start(
        { ...request, polling: FAST_POLLING },
        { workflowId: `history-${name}`, workflowExecutionTimeout: name === 'deadline' ? '10s' : '1m' },
      );
      handles.push([name, handle]);
      if (name === 'user-canceled') {
        await bed.sim.waitFor((p) => p.model === 'sim/never' && p.status === 'processing');
        await new Promise((r) => setTimeout(r, 1_000)); // let a few polls land in the history
        await handle.cancel();
      }
      await handle.result().catch(() => undefined);
    }
    // An outage of GETs mid-run (polls fail, the run keeps polling) and an output kept out of band (claim check).
    bed.sim.setModel('sim/outage-job', { startDelayMs: 200, durationMs: 3_000, output: '$input' });
    const outage = await bed.start(
      { model: 'sim/outage-job', input: { outage: true }, polling: FAST_POLLING },
      { workflowId: 'history-outage' },
    );
    await bed.sim.waitFor((p) => p.model === 'sim/outage-job' && p.status === 'processing');
    bed.sim.setFaults({ serverErrorRate: 1, serverErrorRoutes: 'get' });
    await new Promise((r) => setTimeout(r, 4_500)); // more than one poll's three attempts
    bed.sim.setFaults({});
    await outage.result();
    handles.push(['outage', outage]);
    bed.sim.setModel('sim/huge', { startDelayMs: 100, durationMs: 300, output: 'x'.repeat(300_000) });
    const large = await bed.start(
      { model: 'sim/huge', input: {}, polling: FAST_POLLING },
      { workflowId: 'history-large-output' },
    );
    await large.result();
    handles.push(['large-output', large]);

    // A pipeline: fan-out, a dependent step, persisted outputs.
    const pipeline = await bed.env.client.workflow.start(runPipeline, {
      taskQueue: bed.config.taskQueue,
      workflowId: 'history-pipeline',
      workflowExecutionTimeout: '2m',
      args: [{ spec: loadPipelineFile(path.join(PROJECT_ROOT, 'examples', 'poster.yaml')) }],
    });
    await pipeline.result();
    handles.push(['pipeline', pipeline]);
    // Its rerun: every step unchanged, every one reused from it, no prediction made.
    const rerun = await rerunPipeline(bed.env.client, 'history-pipeline', {
      pipelineId: 'history-pipeline-rerun',
    });
    const rerunReport = await rerun.result();
    if (Object.values(rerunReport.steps).some((step) => !step.reused?.length))
      throw new Error('the rerun ran a step anew');
    handles.push(['pipeline-rerun', rerun]);
    // An approval step, approved through the Update, then the step after it.
    const approval = await bed.env.client.workflow.start(runPipeline, {
      taskQueue: bed.config.taskQueue,
      workflowId: 'history-pipeline-approval',
      workflowExecutionTimeout: '2m',
      args: [
        {
          spec: {
            name: 'approved',
            steps: {
              review: { approve: { message: 'go on?', timeout: '1m' } },
              after: { model: 'google/imagen-4-ultra', needs: ['review'], input: { prompt: 'approved' } },
            },
          },
        },
      ],
    });
    for (;;) {
      const report = await approval.query(progressQuery).catch(() => undefined);
      if (report?.steps.review?.status === 'waiting') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await approveStep(bed.env.client, 'history-pipeline-approval', {
      step: 'review',
      approve: true,
      by: 'recorder',
    });
    await approval.result();
    handles.push(['pipeline-approval', approval]);

    // Predictive polling: a model the worker has seen finish three times; the fourth run polls just after its
    // expected end (the timing handed over by the create's answer). The plain backoff would poll 5 times.
    bed.sim.setModel('sim/steady', { startDelayMs: 100, durationMs: 2_000, output: 'done' });
    for (let i = 0; i < 3; i++)
      await (await bed.start({ model: 'sim/steady', input: { warmUp: i }, polling: FAST_POLLING })).result();
    const predictive = await bed.start(
      { model: 'sim/steady', input: { warmUp: 'done' }, polling: FAST_POLLING },
      { workflowId: 'history-predictive' },
    );
    await predictive.result();
    handles.push(['predictive', predictive]);

    // The result cache: the second of two identical `cache: true` runs is served by the first's persisted result.
    const cacheRequest = {
      model: 'google/imagen-4-ultra',
      input: { prompt: 'cached' },
      polling: FAST_POLLING,
      cache: true,
    };
    await (await bed.start(cacheRequest)).result();
    const cached = await bed.start(cacheRequest, { workflowId: 'history-cached' });
    if (!(await cached.result()).cached)
      throw new Error('the second cache: true run was not served by the cache');
    handles.push(['cached', cached]);

    // Spend safety: a create answered too late (attempt 1 gave up at 2 s; Replicate committed it at 2.2 s) is found by
    // the next attempt's search and claimed (adopted); a create committed after the retry created anew (at 4 s) is
    // claimed and canceled by the run's late-commit watch. Each run's claim, and the watch, are recorded too.
    // (jobs of 20 s: the late copy still runs when the watch, listing every 15 s, finds it)
    bed.sim.setModel('sim/spend', { startDelayMs: 100, durationMs: 20_000, output: '$input' });
    const spend = await bed.withWorker({ httpTimeouts: { createMs: 2_000 } }, async (taskQueue) => {
      const runs: [string, WorkflowHandle][] = [];
      for (const [name, commitMs] of [
        ['adopted', 2_200],
        ['late-commit', 4_000],
      ] as const) {
        bed.sim.setFaults({ createCommitDelayMs: commitMs, lateCommitNext: 1 });
        const handle = await bed.start(
          { model: 'sim/spend', input: { case: name }, polling: FAST_POLLING, lateCommitWindowMs: 30_000 },
          { workflowId: `history-${name}`, taskQueue, workflowExecutionTimeout: '2m' },
        );
        const result = await handle.result();
        if ((name === 'adopted') !== result.adopted) throw new Error(`${name}: adopted is ${result.adopted}`);
        runs.push([name, handle]);
      }
      // the late-commit watch of the second run: wait until it has canceled the late copy and ended
      const { runId } = await runs[1]![1].describe();
      const watch = bed.env.client.workflow.getHandle(`replicate-late-commits:history-late-commit:${runId}`);
      const report = (await watch.result()) as { canceled: string[] };
      if (report.canceled.length !== 1) throw new Error(`the watch canceled ${report.canceled.length} jobs`);
      return { runs, watch: watch.workflowId, claim: `replicate-claim:${(await runs[0]![1].result()).id}` };
    });
    bed.sim.setFaults({});
    handles.push(...spend.runs);
    recorded.push(['late-commit-watch', spend.watch], ['claim', spend.claim]);

    // Webhooks: the run wakes on the signal instead of polling.
    const receiver = await startWebhookReceiver({
      client: bed.env.client,
      port: 0,
      secret: null,
      replicate: { token: SECRET_TOKEN, baseUrl: bed.sim.baseUrl },
    });
    const webhookRun = await bed.withWorker(
      { webhook: { baseUrl: receiver.origin, port: null, secret: null } },
      async (taskQueue) => {
        const handle = await bed.start(
          { model: 'google/imagen-4-ultra', input: { prompt: 'webhooks' } },
          { workflowId: 'history-webhook', taskQueue },
        );
        await handle.result();
        return handle;
      },
    );
    await receiver.stop();
    handles.push(['webhook', webhookRun]);

    // Per-model concurrency: two runs of a model limited to 1 started together; the second waits for the slot.
    bed.sim.setModel('sim/slot', { startDelayMs: 100, durationMs: 1_500, output: 'done' });
    const slotRuns = await Promise.all(
      ['slots-first', 'slots-waited'].map((name) =>
        bed.start(
          { model: 'sim/slot', input: { run: name }, polling: FAST_POLLING, concurrencyLimit: 1 },
          { workflowId: `history-${name}` },
        ),
      ),
    );
    await Promise.all(slotRuns.map((h) => h.result()));
    const slotJobs = bed.sim
      .predictionIds() // creation order
      .map((id) => bed.sim.prediction(id)!)
      .filter((p) => p.model === 'sim/slot');
    if (
      slotJobs.length !== 2 ||
      Date.parse(slotJobs[1]!.created_at) < Date.parse(slotJobs[0]!.completed_at!)
    ) {
      throw new Error('the limited runs did not take turns');
    }
    // named by what they did: the one whose job was created second waited
    const firstName = (slotJobs[0]!.input as { run: string }).run;
    for (const h of slotRuns)
      handles.push([h.workflowId === `history-${firstName}` ? 'slots-first' : 'slots-waited', h]);
    // the limiter stays open (idle exit after 5 min): its history so far, now waiting idle
    recorded.push(['slots-limiter', slotsWorkflowId(slotKey('sim/slot')!)]);

    // Budgets: stopped at the crossing (2 s of a 30 s job at $0.001/s), and one ending under budget.
    bed.sim.setModel('sim/long', { startDelayMs: 100, durationMs: 30_000, output: 'done' });
    bed.sim.setModel('sim/short', { startDelayMs: 100, durationMs: 500, output: 'done' });
    for (const [name, model, maxCostUsd] of [
      ['budget-exceeded', 'sim/long', 0.002],
      ['budget-under', 'sim/short', 1],
    ] as const) {
      const handle = await bed.start(
        { model, input: {}, polling: FAST_POLLING, maxCostUsd, pricePerSecondUsd: 0.001 },
        { workflowId: `history-${name}` },
      );
      await handle.result().catch(() => undefined);
      handles.push([name, handle]);
    }
    // A pipeline with a budget, stopped by it: two jobs at $0.001/s cross $0.003 after 1.5 s; `after` never starts.
    const dir = mkdtempSync(path.join(tmpdir(), 'record-histories-'));
    const spec = path.join(dir, 'budgeted.yaml');
    writeFileSync(
      spec,
      [
        'name: budgeted',
        'prices: { sim/long: 0.001 }',
        'budget: { usd: 0.003 }',
        'steps:',
        '  fan: { model: sim/long, count: 2, input: { prompt: hi } }',
        "  after: { model: sim/long, input: { prompt: '{{ steps.fan.outputs }}' } }",
        '',
      ].join('\n'),
    );
    const budgeted = await bed.env.client.workflow.start(runPipeline, {
      taskQueue: bed.config.taskQueue,
      workflowId: 'history-pipeline-budget',
      workflowExecutionTimeout: '2m',
      args: [{ spec: loadPipelineFile(spec) }],
    });
    await budgeted.result().catch(() => undefined);
    handles.push(['pipeline-budget', budgeted]);

    // The orphan reconciler in list mode, with a job to report: its run was terminated, the job runs on.
    const lost = await bed.start(
      { model: 'sim/never', input: { orphan: true } },
      { workflowExecutionTimeout: '5m' },
    );
    await bed.sim.waitFor(
      (p) => p.model === 'sim/never' && p.status === 'processing' && p.input.orphan === true,
    );
    await lost.terminate('leaves an orphan for the reconciler');
    const reconcile = await bed.env.client.workflow.start(reconcileOrphans, {
      taskQueue: bed.config.taskQueue,
      workflowId: 'history-reconcile',
      workflowExecutionTimeout: '1m',
      args: [{ apply: false, graceSeconds: 0 }],
    });
    const report = await reconcile.result();
    if (report.orphans.length === 0) throw new Error('the reconciler reported no orphan');
    handles.push(['reconcile', reconcile]);

    recorded.unshift(...handles.map(([name, handle]): [string, string] => [name, handle.workflowId]));
    for (const [name, workflowId] of recorded) {
      const file = path.join(folder, `${name}.json`);
      // The CLI's JSON is the format Worker.runReplayHistory documents (the SDK's historyToJSON trips on
      // duplicated protobufjs copies in node_modules).
      const json = execFileSync(ensureBinary(TEMPORAL_CLI), [
        'workflow',
        'show',
        '--workflow-id',
        workflowId,
        '--address',
        bed.config.address,
        '--output',
        'json',
      ]);
      writeFileSync(file, json);
      console.log(`recorded ${file}`);
    }
  } finally {
    await bed.teardown();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
