/**
 * Pipelines end to end: DAG order and parallelism, fan-out, failure policies, persisted outputs, cost, CLI.
 * (Over 400 lines on purpose: one dev server for every pipeline scenario, which costs seconds per file.)
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ManifestEntry } from '../../src/activities/outputs';
import { EXIT, type PipelineSummary } from '../../src/cli';
import { PROJECT_ROOT } from '../../src/dev/binaries';
import { workflowsPath } from '../../src/worker';
import { progressQuery, runPipeline } from '../../src/workflows';
import { failureOf, SECRET_TOKEN, startTestbed, type Testbed, cliOn } from '../helpers/testbed';

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed();
  bed.sim.setModel('sim/step', { startDelayMs: 100, durationMs: 1_500, output: '$input' });
});
afterAll(async () => {
  await bed?.teardown();
});

const cli = (...argv: string[]) => cliOn(bed, ...argv);

function specFile(name: string, yaml: string): string {
  const file = path.join(tmpdir(), `${name}-${process.pid}-${Date.now()}.yaml`);
  writeFileSync(file, yaml);
  return file;
}

const createOf = (id: string) =>
  bed.sim.requests.find((r) => r.predictionId === id && r.route.endsWith('create'))!;
const completedAt = (id: string) => Date.parse(bed.sim.prediction(id)!.completed_at!);

describe('runPipeline', () => {
  it('runs examples/poster.yaml: generate x2 -> upscale each -> caption, outputs persisted with sha256, cost summed', async () => {
    const { code, out } = await cli(
      'pipeline',
      'run',
      path.join(PROJECT_ROOT, 'examples', 'poster.yaml'),
      '--input',
      'prompt=a red bicycle',
      '--json',
    );
    expect(code).toBe(EXIT.ok);
    const summary = JSON.parse(out[0]!) as PipelineSummary;
    expect(summary.status).toBe('succeeded');
    expect(
      Object.fromEntries(Object.entries(summary.steps).map(([n, s]) => [n, s.predictionIds.length])),
    ).toEqual({ generate: 2, upscale: 2, caption: 1 });
    for (const id of summary.steps.generate!.predictionIds)
      expect(bed.sim.prediction(id)!.input).toMatchObject({ prompt: 'a red bicycle' });
    // upscale got the generated files (as data: URLs of their persisted copies: Replicate's own URLs expire after
    // an hour), one prediction each, created after generation finished
    const generatedFiles = summary.steps.generate!.files.map((f) =>
      readFileSync(path.join(path.dirname(summary.manifest!), f)),
    );
    const upscaleInputs = summary.steps.upscale!.predictionIds.map(
      (id) => bed.sim.prediction(id)!.input!.image as string,
    );
    for (const input of upscaleInputs) expect(input).toMatch(/^data:image\/png;base64,/);
    expect(upscaleInputs.map((u) => Buffer.from(u.split(',')[1]!, 'base64').toString('hex')).sort()).toEqual(
      generatedFiles.map((b) => b.toString('hex')).sort(),
    );
    const lastGenerated = Math.max(...summary.steps.generate!.predictionIds.map(completedAt));
    for (const id of summary.steps.upscale!.predictionIds)
      expect(createOf(id).at).toBeGreaterThanOrEqual(lastGenerated);
    expect(bed.sim.prediction(summary.steps.caption!.predictionIds[0]!)!.input!.image).toMatch(
      /^data:image\/png;base64,/,
    );

    // manifest: every file's source URL, local path, bytes, sha256, content type; verified on disk
    const manifest = JSON.parse(readFileSync(summary.manifest!, 'utf8')) as {
      files: ManifestEntry[];
      cost: PipelineSummary['cost'];
    };
    expect(manifest.files).toHaveLength(4); // 2 generated + 2 upscaled (the caption is text, not a file)
    for (const f of manifest.files) {
      const bytes = readFileSync(path.join(path.dirname(summary.manifest!), f.path));
      expect(bytes.length).toBe(f.bytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(f.sha256);
      expect(f.contentType).toBe('image/png');
      expect(f.sourceUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/files\//);
    }
    // cost: predict_time summed per step and in total, priced with the spec's table
    const predictTimes = Object.values(summary.steps).flatMap((s) =>
      s.predictionIds.map((id) => bed.sim.prediction(id)!.metrics!.predict_time!),
    );
    expect(summary.cost!.totalPredictTime).toBeCloseTo(
      predictTimes.reduce((a, b) => a + b, 0),
      2,
    );
    expect(summary.cost!.estimatedUsd).toBeGreaterThan(0);
    expect(manifest.cost).toEqual(summary.cost);
  });

  it('runs independent steps in parallel and a joining step after both', async () => {
    const file = specFile(
      'dag',
      `
name: dag
steps:
  a: { model: sim/step, input: { x: a } }
  b: { model: sim/step, input: { x: b } }
  c: { model: sim/step, input: { from: '{{ steps.a.output }}', and: '{{ steps.b.output.x }}' } }
`,
    );
    const { code, out } = await cli('pipeline', 'run', file, '--json');
    expect(code).toBe(EXIT.ok);
    const s = JSON.parse(out[0]!) as PipelineSummary;
    const [a, b, c] = ['a', 'b', 'c'].map((n) => s.steps[n]!.predictionIds[0]!);
    expect(Math.abs(createOf(a!).at - createOf(b!).at)).toBeLessThan(1_000); // both started together
    expect(createOf(c!).at).toBeGreaterThanOrEqual(Math.max(completedAt(a!), completedAt(b!)));
    expect(bed.sim.prediction(c!)!.input).toEqual({ from: { x: 'a' }, and: 'b' }); // exact templates keep types
  });

  it('fail-fast: a failing step cancels its running sibling at Replicate and skips dependents', async () => {
    const before = new Set(bed.sim.predictionIds());
    const file = specFile(
      'ff',
      `
name: ff
failure: fail-fast
steps:
  slow: { model: sim/never, input: {} }
  bad: { model: sim/fail, input: {} }
  after: { model: sim/step, input: { x: '{{ steps.slow.output }}' } }
`,
    );
    const { code, out } = await cli('pipeline', 'run', file, '--json');
    expect(code).toBe(EXIT.failed);
    const s = JSON.parse(out[0]!) as PipelineSummary;
    expect(s.status).toBe('failed');
    expect(s.error!.type).toBe('PipelineFailed');
    expect(s.steps.bad!.status).toBe('failed');
    expect(s.steps.bad!.error).toContain('CUDA out of memory');
    expect(s.steps.slow!.status).toBe('canceled');
    expect(s.steps.after!.status).toBe('skipped');
    // the slow step's one prediction was canceled at Replicate, once
    const slow = bed.sim
      .predictionIds()
      .filter((id) => !before.has(id) && bed.sim.prediction(id)!.model === 'sim/never');
    expect(slow).toHaveLength(1);
    expect(bed.sim.prediction(slow[0]!)!.status).toBe('canceled');
    expect(bed.sim.counters(slow[0]!).cancels).toBe(1);
  });

  it('continue: independent steps finish, only dependents of the failed step are skipped', async () => {
    const file = specFile(
      'cont',
      `
name: cont
failure: continue
steps:
  bad: { model: sim/fail, input: {} }
  good: { model: sim/echo, input: { ok: true } }
  afterBad: { model: sim/echo, input: { x: '{{ steps.bad.output }}' } }
  afterGood: { model: sim/echo, input: { x: '{{ steps.good.output.ok }}' } }
`,
    );
    const { code, out } = await cli('pipeline', 'run', file, '--json');
    expect(code).toBe(EXIT.failed);
    const s = JSON.parse(out[0]!) as PipelineSummary;
    expect(Object.fromEntries(Object.entries(s.steps).map(([n, st]) => [n, st.status]))).toEqual({
      bad: 'failed',
      good: 'succeeded',
      afterBad: 'skipped',
      afterGood: 'succeeded',
    });
    expect(s.steps.afterGood!.outputs).toEqual([{ x: true }]);
  });

  it('runs examples/variations.yaml: one prediction per style, in parallel', async () => {
    const { code, out } = await cli(
      'pipeline',
      'run',
      path.join(PROJECT_ROOT, 'examples', 'variations.yaml'),
      '--json',
    );
    expect(code).toBe(EXIT.ok);
    const s = JSON.parse(out[0]!) as PipelineSummary;
    const ids = s.steps.variation!.predictionIds;
    expect(ids).toHaveLength(4);
    expect(ids.map((id) => bed.sim.prediction(id)!.input!.prompt).sort()).toEqual(
      ['charcoal sketch', 'pixel art', 'ukiyo-e', 'watercolor']
        .map((st) => `a fox in the snow, ${st} style`)
        .sort(),
    );
    expect(s.steps.variation!.outputs).toHaveLength(8); // sdxl returns 2 files each, flattened
    expect(s.steps.variation!.files).toHaveLength(8);
  });

  it('shows per-step progress while running, and pipeline status by id', async () => {
    const file = specFile(
      'prog',
      `
name: prog
steps:
  first: { model: sim/step, input: { n: 1 } }
  second: { model: sim/step, input: { n: '{{ steps.first.output.n }}' } }
`,
    );
    const run = cli('pipeline', 'run', file, '--pipeline-id', 'pipeline-prog-1');
    await expect
      .poll(
        async () =>
          JSON.parse(
            (await cli('pipeline', 'status', 'pipeline-prog-1', '--json').catch(() => ({ out: ['{}'] })))
              .out[0] ?? '{}',
          ) as { steps?: Record<string, { status: string }> },
        { timeout: 10_000, interval: 200 },
      )
      .toMatchObject({
        steps: {
          first: { status: 'running', predictionIds: [expect.stringMatching(/^[a-z0-9]{26}$/)] },
          second: { status: 'pending' },
        },
      });
    const { code, out } = await run;
    expect(code).toBe(EXIT.ok);
    const text = out.join('\n');
    expect(text).toMatch(/first: running {2}[a-z0-9]{26}\n/); // the prediction id shows while the step runs
    expect(text).toMatch(/second: succeeded/);
    expect(text).toContain('manifest: ');
  });

  it('rejects an invalid spec before anything starts, naming the field', async () => {
    const seen = bed.sim.requests.length;
    const file = specFile(
      'bad',
      `
name: bad
steps:
  a: { model: sim/echo, input: { x: '{{ steps.b.output }}' } }
  b: { model: sim/echo, input: { x: '{{ steps.a.output }}' }, modle: typo }
`,
    );
    const { code, err } = await cli('pipeline', 'run', file);
    expect(code).toBe(EXIT.usage);
    expect(err.join('\n')).toContain('steps.b.modle');
    expect(err.join('\n')).toMatch(/a -> b -> a|b -> a -> b/);
    expect(bed.sim.requests.length).toBe(seen);
  });
});

describe('expired outputs', () => {
  it('a file that is gone (404) fails the step with OutputUnavailable and says why', async () => {
    bed.sim.setModel('sim/expired', { durationMs: 200, output: `${bed.sim.origin}/files/expired/out-0.png` });
    const file = specFile('expired', 'name: expired\nsteps:\n  gen: { model: sim/expired, input: {} }\n');
    const { code, out } = await cli('pipeline', 'run', file, '--json');
    expect(code).toBe(EXIT.failed);
    const s = JSON.parse(out[0]!) as PipelineSummary;
    expect(s.steps.gen!.status).toBe('failed');
    expect(s.steps.gen!.error).toMatch(/is gone \(404\).*deletes API outputs/);
    expect(existsSync(s.manifest!)).toBe(true);
  });

  describe('when Replicate removed the data before the run read it', () => {
    let expired: Testbed;
    beforeAll(async () => {
      expired = await startTestbed({ outputTtlMs: 1 });
    });
    afterAll(async () => {
      await expired?.teardown();
    });

    it('the run fails with OutputUnavailable instead of succeeding with no output', async () => {
      const handle = await expired.start({ model: 'sim/echo', input: { x: 1 } });
      const { failure } = await failureOf(handle);
      expect(failure.type).toBe('OutputUnavailable');
      expect(failure.message).toContain('data_removed');
    });
  });
});

describe('hostile outputs and ids', () => {
  it('an output on another origin fails the step with OutputOriginNotAllowed and fetches and writes nothing', async () => {
    const hits: string[] = [];
    const internal = createServer((req, res) => {
      hits.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"internal":true}');
    });
    await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve));
    try {
      const port = (internal.address() as AddressInfo).port;
      const simState = bed.sim.origin.replace('127.0.0.1', 'localhost') + '/_sim/state'; // same server, other origin
      bed.sim.setModel('sim/ssrf', {
        durationMs: 200,
        output: [`http://127.0.0.1:${port}/admin`, simState],
      });
      const file = specFile('ssrf', 'name: ssrf\nsteps:\n  gen: { model: sim/ssrf, input: {} }\n');
      const { code, out } = await cli('pipeline', 'run', file, '--pipeline-id', 'pipeline-ssrf-1', '--json');
      expect(code).toBe(EXIT.failed);
      const s = JSON.parse(out[0]!) as PipelineSummary;
      expect(s.steps.gen!.status).toBe('failed');
      expect(s.steps.gen!.error).toContain(`http://127.0.0.1:${port}/admin is not on an allowed origin`);
      expect(s.steps.gen!.error).toContain('OUTPUT_ALLOWED_ORIGINS');
      expect(s.steps.gen!.files).toEqual([]);
      expect(hits).toEqual([]);
      expect(existsSync(path.join(bed.config.outputDir, 'pipeline-ssrf-1', 'gen'))).toBe(false);
      const manifest = JSON.parse(readFileSync(s.manifest!, 'utf8')) as { files: ManifestEntry[] };
      expect(manifest.files).toEqual([]);
    } finally {
      await new Promise((resolve) => internal.close(resolve));
    }
  });

  it('pipeline ids that used to share a folder (clash/1, clash_1) or escape it (..) get their own folder under OUTPUT_DIR', async () => {
    bed.sim.setModel('sim/file', { startDelayMs: 50, durationMs: 200 }); // one file per prediction
    const file = specFile('clash', 'name: clash\nsteps:\n  gen: { model: sim/file, input: {} }\n');
    const manifests: { path: string; files: ManifestEntry[] }[] = [];
    for (const id of ['clash/1', 'clash_1', '..']) {
      const { code, out } = await cli('pipeline', 'run', file, '--pipeline-id', id, '--json');
      expect(code).toBe(EXIT.ok);
      const s = JSON.parse(out[0]!) as PipelineSummary;
      const m = JSON.parse(readFileSync(s.manifest!, 'utf8')) as {
        pipelineId: string;
        files: ManifestEntry[];
      };
      expect(m.pipelineId).toBe(id);
      expect(m.files.map((f) => f.predictionId)).toEqual(s.steps.gen!.predictionIds);
      expect(m.files).toHaveLength(1);
      expect(path.relative(bed.config.outputDir, s.manifest!).startsWith('..')).toBe(false);
      manifests.push({ path: s.manifest!, files: m.files });
    }
    expect(new Set(manifests.map((m) => m.path)).size).toBe(3);
    for (const m of manifests) {
      for (const f of m.files) expect(existsSync(path.join(path.dirname(m.path), f.path))).toBe(true);
    }
  });
});

describe('continue with fan-out', () => {
  it('keeps the siblings that succeeded (outputs, files, ids in order) and counts the canceled one in the cost', async () => {
    bed.sim.setModel('sim/var', { startDelayMs: 100, durationMs: 4_000, output: '$files:1' });
    const file = specFile(
      'keep',
      `
name: keep
failure: continue
inputs: { styles: [a, b, c] }
steps:
  variation: { model: sim/var, foreach: '{{ inputs.styles }}', input: { style: '{{ item }}' } }
`,
    );
    const run = cli('pipeline', 'run', file, '--json');
    const byStyle = (style: string) =>
      bed.sim
        .predictionIds()
        .find(
          (id) =>
            bed.sim.prediction(id)!.model === 'sim/var' && bed.sim.prediction(id)!.input!.style === style,
        );
    await expect
      .poll(() => bed.sim.prediction(byStyle('b') ?? '')?.status, { timeout: 10_000 })
      .toBe('processing');
    // someone cancels the middle variation at Replicate while it runs
    const res = await fetch(`${bed.sim.baseUrl}/predictions/${byStyle('b')!}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SECRET_TOKEN}` },
    });
    expect(res.status).toBe(200);
    const { code, out } = await run;
    expect(code).toBe(EXIT.failed);
    const s = JSON.parse(out[0]!) as PipelineSummary;
    const [a, b, c] = ['a', 'b', 'c'].map((st) => byStyle(st)!);
    expect(bed.sim.prediction(b!)!.status).toBe('canceled');
    const step = s.steps.variation!;
    expect(step.status).toBe('failed');
    expect(step.predictionIds).toEqual([a, c]);
    expect(step.outputs).toEqual([bed.sim.prediction(a!)!.output, bed.sim.prediction(c!)!.output].flat());
    expect(step.files).toHaveLength(2);
    const manifest = JSON.parse(readFileSync(s.manifest!, 'utf8')) as { files: ManifestEntry[] };
    expect(manifest.files.map((f) => f.predictionId)).toEqual([a, c]);
    expect(manifest.files.map((f) => f.path)).toEqual(step.files);
    for (const f of manifest.files)
      expect(existsSync(path.join(path.dirname(s.manifest!), f.path))).toBe(true);
    // billed time of all three, the canceled one included
    const billed = [a, b, c].map((id) => bed.sim.prediction(id!)!.metrics!.predict_time!);
    expect(billed[1]).toBeGreaterThan(0);
    expect(s.cost!.totalPredictTime).toBeCloseTo(
      billed.reduce((x, y) => x + y, 0),
      2,
    );
    // the ids of what did not succeed are in the report too (the CLI summary keeps its shape)
    const handle = bed.env.client.workflow.getHandle(s.pipelineId);
    const report = await handle.query(progressQuery);
    expect(report.steps.variation!.failedPredictionIds).toEqual([b]);
    expect(report.steps.variation!.predictionIds).toEqual([a, c]);

    // the code replays its own history
    const history = await handle.fetchHistory();
    await Worker.runReplayHistory({ workflowsPath }, history, s.pipelineId);
  });
});

describe('step inputs over the payload limit', () => {
  it('fails the pipeline at once, naming the step and the size', async () => {
    const big = 'x'.repeat(600_000);
    const file = specFile(
      'huge',
      `name: huge\ninputs: { big: '${big}' }\nsteps:\n  four: { model: sim/echo, input: { text: '{{ inputs.big }}{{ inputs.big }}{{ inputs.big }}{{ inputs.big }}' } }\n`,
    );
    const seen = bed.sim.requests.length;
    const started = Date.now();
    const { code, out } = await cli('pipeline', 'run', file, '--timeout', '40s', '--json');
    expect(code).toBe(EXIT.failed);
    expect(Date.now() - started).toBeLessThan(15_000);
    const s = JSON.parse(out[0]!) as PipelineSummary;
    expect(s.status).toBe('failed');
    expect(s.steps.four!.status).toBe('failed');
    const size = Buffer.byteLength(JSON.stringify({ text: big.repeat(4) }));
    expect(s.steps.four!.error).toContain(`step four: its input is ${size} bytes of JSON`);
    expect(s.steps.four!.error).toContain('over the 1000000-byte limit');
    expect(bed.sim.requests.length).toBe(seen); // no prediction was created
  });
});

describe('fail-fast with fan-out', () => {
  it('a failed sibling cancels the others at Replicate at once', async () => {
    bed.sim.setModel('sim/var2', { startDelayMs: 100, durationMs: 20_000, output: '$files:1' });
    const file = specFile(
      'ffan',
      `
name: ffan
inputs: { styles: [a, b, c] }
steps:
  variation: { model: sim/var2, foreach: '{{ inputs.styles }}', input: { style: '{{ item }}' } }
`,
    );
    const started = Date.now();
    const run = cli('pipeline', 'run', file, '--json');
    const byStyle = (style: string) =>
      bed.sim
        .predictionIds()
        .find(
          (id) =>
            bed.sim.prediction(id)!.model === 'sim/var2' && bed.sim.prediction(id)!.input!.style === style,
        );
    await expect
      .poll(() => bed.sim.prediction(byStyle('b') ?? '')?.status, { timeout: 10_000 })
      .toBe('processing');
    await fetch(`${bed.sim.baseUrl}/predictions/${byStyle('b')!}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SECRET_TOKEN}` },
    });
    const { code, out } = await run;
    expect(code).toBe(EXIT.failed);
    expect(Date.now() - started).toBeLessThan(15_000); // not the 20 s the siblings would run
    const s = JSON.parse(out[0]!) as PipelineSummary;
    expect(s.steps.variation!.status).toBe('failed');
    for (const st of ['a', 'c']) {
      expect(bed.sim.prediction(byStyle(st)!)!.status).toBe('canceled');
      expect(bed.sim.counters(byStyle(st)!).cancels).toBeGreaterThan(0);
    }
  });
});

describe('long pipeline ids', () => {
  it('an id whose child ids would be over the limit fails at once, naming the id', async () => {
    const file = specFile('longid', 'name: longid\nsteps:\n  generate: { model: sim/echo, input: {} }\n');
    const id = 'p'.repeat(995); // the child's id, <id>--generate, is 1005 bytes
    const started = Date.now();
    const { code, out } = await cli(
      'pipeline',
      'run',
      file,
      '--pipeline-id',
      id,
      '--timeout',
      '30s',
      '--json',
    );
    expect(Date.now() - started).toBeLessThan(15_000); // before: stuck until the 30 s timeout
    expect(code).toBe(EXIT.failed);
    const s = JSON.parse(out[0]!) as PipelineSummary;
    expect(s.error!.type).toBe('InvalidPipelineSpec');
    expect(s.error!.message).toContain(
      `the child workflow id of step generate (pipeline id + "--generate"): 1005 bytes is over Temporal's 1000-byte limit`,
    );
    expect(s.steps).toEqual({}); // nothing ran
  });
});

describe('persisting on a real worker', () => {
  it('a retried persist resumes after the files its failed attempt finished (heartbeat details reach the retry)', async () => {
    const hits: string[] = [];
    let failures = 1;
    const cdn = createServer((req, res) => {
      hits.push(req.url ?? '');
      if (req.url === '/1.png' && failures-- > 0) {
        res.writeHead(503).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'image/png' }).end(`file ${req.url}`);
    });
    await new Promise<void>((resolve) => cdn.listen(0, '127.0.0.1', resolve));
    try {
      const origin = `http://127.0.0.1:${(cdn.address() as AddressInfo).port}`;
      bed.sim.setModel('sim/two', { durationMs: 200, output: [`${origin}/0.png`, `${origin}/1.png`] });
      const spec = { name: 'resume', steps: { gen: { model: 'sim/two', input: {} } } };
      const result = await bed.withWorker({ outputAllowedOrigins: [origin] }, (taskQueue) =>
        bed.env.client.workflow.execute(runPipeline, {
          taskQueue,
          workflowId: `pipeline-resume-${Date.now()}`,
          workflowExecutionTimeout: '1m',
          args: [{ spec }],
        }),
      );
      expect(result.status).toBe('succeeded');
      expect(hits).toEqual(['/0.png', '/1.png', '/1.png']); // 0.png was not downloaded again
      expect(result.manifest.files.map((f) => f.bytes)).toEqual([11, 11]); // "file /0.png"
      for (const f of result.manifest.files) {
        const bytes = readFileSync(path.join(path.dirname(result.manifest.path!), f.path));
        expect(createHash('sha256').update(bytes).digest('hex')).toBe(f.sha256);
      }
    } finally {
      await new Promise((resolve) => cdn.close(resolve));
    }
  });
});
