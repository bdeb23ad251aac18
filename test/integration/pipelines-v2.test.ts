/**
 * Pipelines v2 end to end against the simulator: a rerun that pays only for what failed (and a canceled earlier
 * run), the result cache (pipelines and single runs), chained inputs that outlive Replicate's hour (a step started
 * two simulated hours after its upstream), approval steps (approve, reject, the Update's validation, a timeout),
 * single runs that keep their outputs. One dev server and one simulator whose clock the tests move forward.
 * (Over 400 lines on purpose: one dev server for every scenario, which costs seconds per file.)
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { folderName } from '../../src/activities/outputs';
import { approveStep, rerunPipeline, startPipeline, pipelineOutcome } from '../../src/client';
import { EXIT, type PipelineSummary, type RunSummary } from '../../src/cli';
import { CLI } from '../../src/cli/usage';
import { loadPipelineFile } from '../../src/client/pipeline-file';
import { progressQuery, runPipeline } from '../../src/workflows';
import { cliOn, startTestbed, type Testbed } from '../helpers/testbed';

/** How far the simulator's clock is ahead of the real one. */
let offsetMs = 0;
let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed({ now: () => Date.now() + offsetMs });
  bed.sim.setModel('sim/step', { startDelayMs: 100, durationMs: 600, output: '$input' });
});
afterAll(async () => {
  await bed?.teardown();
});

const cli = (...argv: string[]) => cliOn(bed, ...argv);
let specs = 0;
function specFile(yaml: string): string {
  const file = path.join(tmpdir(), `v2-${process.pid}-${Date.now()}-${specs++}.yaml`);
  writeFileSync(file, yaml);
  return file;
}
/** Predictions the simulator has made so far. */
const created = () => bed.sim.predictionIds().length;
const folder = (id: string) => path.join(bed.config.outputDir, folderName(id));
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const uploads = () => bed.sim.requests.filter((r) => r.route === 'files.create' && r.status === 201).length;

/** Until the pipeline's `progress` says `step` is `status`. */
async function stepReaches(pipelineId: string, step: string, status: string): Promise<void> {
  const handle = bed.client.workflow.getHandle<typeof runPipeline>(pipelineId);
  await expect
    .poll(async () => (await handle.query(progressQuery).catch(() => null))?.steps[step]?.status, {
      timeout: 20_000,
      interval: 200,
    })
    .toBe(status);
}

const FIVE = (d: string) => `
name: five
steps:
  a: { model: google/imagen-4-ultra, input: { prompt: 'a lighthouse at dusk' } }
  b: { model: sim/step, input: { image: '{{ steps.a.output }}', x: b } }
  c: { model: sim/step, input: { prev: '{{ steps.b.output.x }}', x: c } }
  d: { model: ${d}, input: { prev: '{{ steps.c.output.x }}', x: d } }
  e: { model: sim/step, input: { prev: '{{ steps.d.output.x }}', x: e } }
`;

describe('pipeline rerun', () => {
  it('a five-step pipeline failed at step 4, fixed and rerun: 4 predictions, then 2 (a fresh run: 5)', async () => {
    const broken = specFile(FIVE('sim/fail'));
    const fixed = specFile(FIVE('sim/step'));
    const first = 'pipeline-five-first';
    let before = created();
    const failed = await cli('pipeline', 'run', broken, '--pipeline-id', first, '--json');
    expect(failed.code).toBe(EXIT.failed);
    const firstRun = created() - before;
    const failure = JSON.parse(failed.out[0]!) as PipelineSummary;
    expect(failure.steps.d!.status).toBe('failed');
    expect(failure.steps.e!.status).toBe('skipped');
    // the failure says how to rerun it
    expect(failure.error!.message).toContain(`replicate-temporal pipeline rerun ${first} (or --from d)`);

    // today's way: run the fixed spec again from scratch
    before = created();
    const fresh = await cli('pipeline', 'run', fixed, '--json');
    expect(fresh.code).toBe(EXIT.ok);
    const freshRun = created() - before;

    before = created();
    const rerun = await cli(
      'pipeline',
      'rerun',
      first,
      '--spec',
      fixed,
      '--pipeline-id',
      'five-rerun',
      '--json',
    );
    expect(rerun.code, rerun.err.join('\n')).toBe(EXIT.ok);
    const rerunCreated = created() - before;
    console.log(
      `rerun of a five-step pipeline failed at step 4: ${firstRun} predictions, then ${freshRun} run from scratch, ${rerunCreated} rerun`,
    );
    expect([firstRun, freshRun, rerunCreated]).toEqual([4, 5, 2]);

    const s = JSON.parse(rerun.out[0]!) as PipelineSummary;
    expect(s.status).toBe('succeeded');
    for (const step of ['a', 'b', 'c']) {
      expect(s.steps[step]!.reused).toEqual([
        {
          index: 0,
          how: 'rerun',
          pipelineId: first,
          step,
          predictionId: failure.steps[step]!.predictionIds[0],
        },
      ]);
      expect(s.steps[step]!.predictionIds).toEqual(failure.steps[step]!.predictionIds); // no new prediction
    }
    expect(s.steps.d!.reused).toBeUndefined();
    expect(s.cost!.predictTime.a ?? 0).toBe(0); // reused: nothing paid
    // the reused step's file and manifest entry, copied into the new run's folder, same bytes
    const manifest = JSON.parse(readFileSync(s.manifest!, 'utf8')) as {
      files: { path: string; sha256: string }[];
    };
    const [aFile] = manifest.files.filter((f) => f.path.startsWith('a/'));
    expect(sha256(readFileSync(path.join(folder('five-rerun'), aFile!.path)))).toBe(aFile!.sha256);
    expect(aFile!.sha256).toBe(sha256(readFileSync(path.join(folder(first), failure.steps.a!.files[0]!))));

    // pipeline status shows what was reused, and from where
    const status = await cli('pipeline', 'status', 'five-rerun');
    expect(status.out.join('\n')).toMatch(/a: succeeded .* \(reused 1 from pipeline-five-first, \$0\)/);

    // --from c: c, d and e run anew, a and b are reused (from a succeeded run, through the client helper)
    before = created();
    const handle = await rerunPipeline(bed.client, 'five-rerun', { from: 'c', pipelineId: 'five-from-c' });
    const fromC = await pipelineOutcome(handle);
    expect(fromC.status).toBe('succeeded');
    expect(created() - before).toBe(3);
    expect(
      Object.fromEntries(
        Object.entries(fromC.steps).map(([n, st]) => [n, st.reused?.[0]?.pipelineId ?? null]),
      ),
    ).toEqual({
      a: 'five-rerun',
      b: 'five-rerun',
      c: null,
      d: null,
      e: null,
    });
  }, 150_000); // three five-step pipelines through the CLI, one after the other: 30 s here, over 60 s in a loaded CI run

  it('reruns a canceled pipeline: what succeeded before the cancel is reused', async () => {
    const slow = specFile(`
name: slow
steps:
  first: { model: sim/step, input: { x: 1 } }
  stuck: { model: sim/never, input: { prev: '{{ steps.first.output.x }}' } }
`);
    const id = 'pipeline-slow-canceled';
    const spec = loadPipelineFile(slow);
    const handle = await startPipeline(
      bed.client,
      { spec },
      { taskQueue: bed.config.taskQueue, workflowId: id },
    );
    await stepReaches(id, 'stuck', 'running');
    await handle.cancel();
    expect((await pipelineOutcome(handle)).status).toBe('canceled');

    const before = created();
    const fixedSpec = {
      ...spec,
      steps: { ...spec.steps, stuck: { ...spec.steps.stuck!, model: 'sim/step' } },
    };
    const rerun = await pipelineOutcome(await rerunPipeline(bed.client, id, { spec: fixedSpec }));
    expect(rerun.status).toBe('succeeded');
    expect(rerun.steps.first!.reused?.[0]).toMatchObject({ how: 'rerun', pipelineId: id });
    expect(created() - before).toBe(1);
  });

  it('refuses a --from that is not a step, and an id that is not a pipeline, before anything starts', async () => {
    const r1 = await cli('pipeline', 'rerun', 'pipeline-five-first', '--from', 'zz');
    expect(r1.code).toBe(EXIT.usage);
    expect(r1.err.join('\n')).toContain(
      '--from zz: pipeline five has no such step; its steps are a, b, c, d, e',
    );
    const r2 = await cli('pipeline', 'rerun', 'no-such-pipeline');
    expect(r2.code).toBe(EXIT.usage);
  });
});

describe('the result cache', () => {
  const CACHED = `
name: cached
cache: true
prices: { google/imagen-4-ultra: 0.01 }
steps:
  draw: { model: google/imagen-4-ultra, count: 2, input: { prompt: 'a red bicycle' } }
`;
  it('serves an identical request from an earlier persisted result: no prediction, $0; two samples stay two', async () => {
    const file = specFile(CACHED);
    let before = created();
    const first = JSON.parse((await cli('pipeline', 'run', file, '--json')).out[0]!) as PipelineSummary;
    expect(created() - before).toBe(2);
    expect(first.cost!.estimatedUsd).toBeGreaterThan(0);

    before = created();
    const second = JSON.parse((await cli('pipeline', 'run', file, '--json')).out[0]!) as PipelineSummary;
    expect(second.status).toBe('succeeded');
    expect(created() - before).toBe(0);
    console.log(
      `result cache: first run $${first.cost!.estimatedUsd} (2 predictions), cached run $${second.cost!.estimatedUsd} (0)`,
    );
    expect(second.cost!.estimatedUsd).toBe(0);
    expect(second.cost!.totalPredictTime).toBe(0);
    // fan-out index in the key: each sample is served by its own earlier sample
    expect(second.steps.draw!.reused!.map((r) => [r.how, r.predictionId])).toEqual(
      first.steps.draw!.predictionIds.map((id) => ['cache', id]),
    );
    expect(second.steps.draw!.files).toHaveLength(2);

    // --no-cache: a new sample, paid for
    before = created();
    expect((await cli('pipeline', 'run', file, '--no-cache', '--json')).code).toBe(EXIT.ok);
    expect(created() - before).toBe(2);
  });

  it('an entry whose files are gone is a miss, never an error', async () => {
    const file = specFile(CACHED.replace('a red bicycle', 'a green bicycle'));
    const first = JSON.parse((await cli('pipeline', 'run', file, '--json')).out[0]!) as PipelineSummary;
    rmSync(folder(first.pipelineId), { recursive: true, force: true });
    const before = created();
    const again = await cli('pipeline', 'run', file, '--json');
    expect(again.code).toBe(EXIT.ok);
    expect(created() - before).toBe(2);
    expect((JSON.parse(again.out[0]!) as PipelineSummary).steps.draw!.reused).toBeUndefined();
  });

  it('run --cache: the second identical run creates nothing and says where its result came from', async () => {
    const input = JSON.stringify({ prompt: 'a blue kite' });
    const run = (id: string) =>
      cli(
        'run',
        '--model',
        'google/imagen-4-ultra',
        '--input',
        input,
        '--cache',
        '--workflow-id',
        id,
        '--json',
      );
    const one = JSON.parse((await run('cache-run-1')).out[0]!) as RunSummary;
    const before = created();
    const two = JSON.parse((await run('cache-run-2')).out[0]!) as RunSummary;
    expect(created() - before).toBe(0);
    expect(two.cached).toEqual({ workflowId: 'cache-run-1', predictionId: one.predictionId });
    expect(two.metrics!.predict_time).toBe(0);
    expect(two.files![0]!.sha256).toBe(one.files![0]!.sha256);
    expect(existsSync(two.files![0]!.url!)).toBe(true);
  });
});

describe('chained inputs outlive Replicate hour, approval steps', () => {
  it('a step started two simulated hours after its upstream still runs: data: URLs, an upload reused', async () => {
    const file = specFile(`
name: chained
steps:
  small: { model: google/imagen-4-ultra, input: { prompt: 'a lighthouse at dusk' } }
  big: { model: google/imagen-4-ultra, input: { prompt: 'a red bicycle', width: 2048, height: 2048 } }
  review: { approve: { message: 'look at both drafts', timeout: 1h }, needs: [small, big] }
  describeSmall: { model: salesforce/blip, input: { image: '{{ steps.small.output }}' }, needs: [review] }
  describeBig: { model: salesforce/blip, input: { image: '{{ steps.big.output }}' }, needs: [review] }
  describeBigAgain: { model: salesforce/blip, input: { image: '{{ steps.big.output }}' }, needs: [describeBig] }
`);
    const id = 'pipeline-chained';
    const run = cli('pipeline', 'run', file, '--pipeline-id', id, '--json');
    await stepReaches(id, 'review', 'waiting');
    const handle = bed.client.workflow.getHandle<typeof runPipeline>(id);
    const waiting = await handle.query(progressQuery);
    const bigUrl = waiting.steps.big!.outputs[0] as string;

    // what waits, and the command that decides it: pipeline status and the Temporal UI's current details
    const status = (await cli('pipeline', 'status', id)).out.join('\n');
    expect(status).toContain('review: waiting');
    expect(status).toContain('look at both drafts');
    expect(status).toContain(`decide: ${CLI} pipeline approve ${id} review [--reject] [--reason TEXT]`);
    const meta = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    expect(meta.currentDetails).toContain('**review waits for a decision**');
    expect(meta.currentDetails).toContain(`replicate-temporal pipeline approve ${id} review`);
    expect(meta.currentDetails).toMatch(/^- \*\*small\*\*: succeeded · 1\/1 prediction succeeded/m);

    // two hours pass on Replicate's clock: the upstream output URLs are gone
    offsetMs += 2 * 3_600_000;
    expect((await fetch(bigUrl)).ok).toBe(false);

    const approved = await cli('pipeline', 'approve', id, 'review', '--reason', 'both fine');
    expect(approved.code, approved.err.join('\n')).toBe(EXIT.ok);
    expect(approved.out[0]).toMatch(/^step review of pipeline-chained approved by \S+ at .*: both fine$/);
    const { code, out } = await run;
    expect(code).toBe(EXIT.ok);
    const s = JSON.parse(out[0]!) as PipelineSummary;
    console.log(
      `chained step two simulated hours after its upstream: ${s.steps.describeSmall!.status}, caption "${String(s.steps.describeSmall!.outputs[0])}"`,
    );
    // the models read their inputs as of two hours later, and saw the pictures
    expect(s.steps.describeSmall!.outputs).toEqual(['a picture of a lighthouse at dusk']);
    expect(s.steps.describeBig!.outputs).toEqual(['a picture of a red bicycle']);
    const inputOf = (step: string) =>
      bed.sim.prediction(s.steps[step]!.predictionIds[0]!)!.input!.image as string;
    expect(inputOf('describeSmall')).toMatch(/^data:image\/png;base64,/); // 29 KB: inline
    expect(inputOf('describeBig')).toMatch(new RegExp(`^${bed.sim.baseUrl}/files/`)); // 322 KB: uploaded
    expect(inputOf('describeBigAgain')).toBe(inputOf('describeBig')); // uploaded once, reused
    expect(uploads()).toBe(1);
    expect(s.steps.review!.approval!.decision).toMatchObject({ approved: true, reason: 'both fine' });
  });

  it('a rejected approval fails the step (who, why, when in the report) and skips what follows', async () => {
    const file = specFile(`
name: gate
steps:
  draft: { model: sim/step, input: { x: 1 } }
  review: { approve: { message: 'ok?' }, needs: [draft] }
  final: { model: sim/step, input: { x: 2 }, needs: [review] }
`);
    const id = 'pipeline-gate';
    const run = cli('pipeline', 'run', file, '--pipeline-id', id, '--json');
    await stepReaches(id, 'draft', 'running');
    // refused with a clear error, nothing changed: an unknown step, a prediction step, a step not waiting yet
    const unknown = await cli('pipeline', 'approve', id, 'reveiw');
    expect(unknown.code).toBe(EXIT.usage);
    expect(unknown.err.join('\n')).toContain("no step 'reveiw'; its approval steps: review");
    const notApproval = await cli('pipeline', 'approve', id, 'draft');
    expect(notApproval.err.join('\n')).toContain(
      "step 'draft' of pipeline pipeline-gate is a prediction step",
    );
    const early = await cli('pipeline', 'approve', id, 'review');
    expect(early.err.join('\n')).toMatch(
      /step 'review' is not waiting for a decision \(it is (pending|running)\)/,
    );
    await stepReaches(id, 'review', 'waiting');

    const decision = await approveStep(bed.client, id, {
      step: 'review',
      approve: false,
      reason: 'too dark',
      by: 'ana',
    });
    expect(decision).toMatchObject({ approved: false, by: 'ana', reason: 'too dark' });
    const again = await cli('pipeline', 'approve', id, 'review');
    expect(again.code).toBe(EXIT.usage);
    expect(again.err.join('\n')).toContain("step 'review' was already rejected by ana at");

    const { code, out } = await run;
    expect(code).toBe(EXIT.failed);
    const s = JSON.parse(out[0]!) as PipelineSummary;
    expect(s.steps.review!.status).toBe('failed');
    expect(s.steps.review!.error).toBe('step review was not approved: rejected by ana: too dark');
    expect(s.steps.review!.approval!.decision).toEqual({ ...decision });
    expect(s.steps.final!.status).toBe('skipped');
  });

  it('no decision in time: onTimeout decides', async () => {
    const file = specFile(`
name: late
steps:
  review: { approve: { message: 'ok?', timeout: 10s, onTimeout: approve } }
  after: { model: sim/step, input: { ok: '{{ steps.review.output.approved }}' } }
`);
    const { code, out } = await cli('pipeline', 'run', file, '--json');
    expect(code).toBe(EXIT.ok);
    const s = JSON.parse(out[0]!) as PipelineSummary;
    expect(s.steps.review!.approval!.decision).toMatchObject({
      approved: true,
      by: 'timeout',
      timedOut: true,
    });
    expect(s.steps.after!.outputs).toEqual([{ ok: true }]);
  });
});

describe('single runs keep their outputs', () => {
  it('run keeps its files (sha256, manifest); result an hour later still prints them; --no-persist keeps none', async () => {
    const { code, out } = await cli(
      'run',
      '--model',
      'google/imagen-4-ultra',
      '--input',
      JSON.stringify({ prompt: 'a quiet harbour' }),
      '--workflow-id',
      'kept-run',
      '--json',
    );
    expect(code).toBe(EXIT.ok);
    const summary = JSON.parse(out[0]!) as RunSummary;
    expect(summary.files).toHaveLength(1);
    const file = summary.files![0]!;
    expect(file.sourceUrl).toBe(summary.output);
    expect(sha256(readFileSync(file.url!))).toBe(file.sha256);
    const manifest = JSON.parse(readFileSync(path.join(folder('kept-run'), 'manifest.json'), 'utf8')) as {
      files: { sha256: string }[];
    };
    expect(manifest.files.map((f) => f.sha256)).toEqual([file.sha256]);

    offsetMs += 3_600_000 + 60_000; // an hour later Replicate's URL is gone; the kept file is not
    expect((await fetch(summary.output as string)).ok).toBe(false);
    const later = await cli('result', 'kept-run');
    expect(later.code).toBe(EXIT.ok);
    expect(later.out.join('\n')).toContain(`kept files:\n  ${file.url}`);

    const bare = await cli(
      'run',
      '--model',
      'google/imagen-4-ultra',
      '--input',
      JSON.stringify({ prompt: 'a quiet harbour' }),
      '--workflow-id',
      'bare-run',
      '--no-persist',
      '--json',
    );
    expect((JSON.parse(bare.out[0]!) as RunSummary).files).toBeUndefined();
    expect(existsSync(folder('bare-run'))).toBe(false);
  });

  it("a pipeline's children keep nothing of their own: the pipeline keeps its steps' files once", async () => {
    const file = specFile(`
name: once
steps:
  draw: { model: google/imagen-4-ultra, input: { prompt: 'a fox' } }
`);
    const s = JSON.parse(
      (await cli('pipeline', 'run', file, '--pipeline-id', 'pipeline-once', '--json')).out[0]!,
    ) as PipelineSummary;
    expect(s.steps.draw!.files).toHaveLength(1);
    expect(existsSync(folder('pipeline-once--draw'))).toBe(false);
  });
});
