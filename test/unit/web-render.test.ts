/**
 * What the web page draws from what workflows and models hand it (src/web/html.ts, src/web/views): every value is
 * escaped, outputs are shown as what they are, a file nobody kept is never linked, steps are laid out by depth.
 */
import { describe, expect, it } from 'vitest';
import type { ManifestEntry } from '../../src/activities/outputs';
import { escapeHtml, html, raw } from '../../src/web/html';
import { listQuery } from '../../src/web/read/list';
import { layoutGraph } from '../../src/web/views/graph';
import { outputList, outputValue, type OutputContext } from '../../src/web/views/outputs';
import { explainFailure } from '../../src/web/explain';
import type { PipelineView } from '../../src/web/read/pipeline';
import type { RunView } from '../../src/web/read/run';
import type { ViewContext } from '../../src/web/views/context';
import { pipelineBody, stepStatus } from '../../src/web/views/pipeline';
import { stepWord } from '../../src/web/step-word';
import type { Decision } from '../../src/shared/pipeline';
import type { StepProgress } from '../../src/workflows/pipeline';
import { runBody, runStatus } from '../../src/web/views/run';

const ctx: OutputContext = { basePath: '/g', keyOf: (e) => `pipeline-x/${e.path}` };

function entry(sourceUrl: string, path: string, contentType: string | null): ManifestEntry {
  return { step: 's', index: 0, predictionId: 'p1', sourceUrl, path, bytes: 10, sha256: 'ab', contentType };
}

describe('html', () => {
  it('escapes every value, in text and in attributes', () => {
    const evil = `<script>alert("x")</script>' onload='x`;
    const out = html`<p title="${evil}">${evil}</p>`.text;
    expect(out).not.toContain('<script>');
    expect(out).not.toContain(`"x"`);
    expect(out).toBe(`<p title="${escapeHtml(evil)}">${escapeHtml(evil)}</p>`);
    expect(escapeHtml(`&<>"'\``)).toBe('&amp;&lt;&gt;&quot;&#39;&#96;');
  });

  it('keeps markup it made itself, joins arrays, drops null, undefined and false', () => {
    const inner = html`<b>${'<i>'}</b>`;
    expect(html`${inner}${[html`<br />`, '&']}${null}${undefined}${false}${0}`.text).toBe(
      '<b>&lt;i&gt;</b><br />&amp;0',
    );
    expect(html`${raw('<hr />')}`.text).toBe('<hr />');
  });
});

describe('outputs', () => {
  it('a text output is text, whatever it holds', () => {
    const out = outputValue('<script>window.x=1</script>', 'o', [], ctx).text;
    expect(out).toContain('<pre class="text">&lt;script&gt;window.x=1&lt;/script&gt;</pre>');
    expect(out).not.toContain('<script>');
  });

  it('a kept image is drawn from the store; a file nobody kept says so and is never linked', () => {
    const url = 'https://replicate.delivery/abc/out-0.png';
    const kept = outputValue(url, 'o', [entry(url, 'gen/0-0.png', 'image/png')], ctx).text;
    expect(kept).toContain('<img src="/g/files/pipeline-x/gen/0-0.png"');
    expect(kept).not.toContain('replicate.delivery');
    const lost = outputValue(url, 'o', [], ctx).text;
    expect(lost).toContain('not kept');
    expect(lost).not.toMatch(/<(a|img|video|audio)\b/);
  });

  it('video and audio get players, other types a link only', () => {
    const v = 'https://x/v.mp4';
    const a = 'https://x/a.wav';
    const z = 'https://x/w.bin';
    const entries = [
      entry(v, 's/0-0.mp4', 'video/mp4'),
      entry(a, 's/0-1.wav', 'audio/wav'),
      entry(z, 's/0-2.bin', 'application/octet-stream'),
    ];
    expect(outputValue(v, 'o', entries, ctx).text).toMatch(
      /<video controls[^>]*src="\/g\/files\/pipeline-x\/s\/0-0.mp4"/,
    );
    expect(outputValue(a, 'o', entries, ctx).text).toMatch(/<audio controls/);
    const bin = outputValue(z, 'o', entries, ctx).text;
    expect(bin).not.toMatch(/<(img|video|audio)\b/);
    expect(bin).toContain('href="/g/files/pipeline-x/s/0-2.bin"');
  });

  it('JSON is folded, and the files it names are drawn below it', () => {
    const url = 'https://x/a.png';
    const out = outputValue(
      { image: url, note: '<b>' },
      'o',
      [entry(url, 's/0-0.png', 'image/png')],
      ctx,
    ).text;
    expect(out).toMatch(/<details class="json">\s*<summary>JSON/);
    expect(out).toContain('&lt;b&gt;');
    expect(out).toContain('<img src="/g/files/pipeline-x/s/0-0.png"');
  });

  it('a data: URL output matches its entry by the recorded prefix', () => {
    const url = `data:image/png;base64,${'A'.repeat(100)}`;
    const e = entry(`${url.slice(0, 40)}...`, 's/0-0.png', 'image/png');
    expect(outputValue(url, 'o', [e], ctx).text).toContain('<img');
  });

  it('a list with nothing says so; kept files no output names are still shown', () => {
    expect(outputList([], [], ctx, 's').text).toContain('No outputs yet');
    expect(outputList([], [entry('https://x/1.png', 's/0-0.png', 'image/png')], ctx, 's').text).toContain(
      '<img',
    );
  });
});

describe('the home list query', () => {
  it('lists pipelines and top-level runs, newest runs of each chain only', () => {
    const q = listQuery({});
    expect(q).toEqual({
      query: `ExecutionStatus != 'ContinuedAsNew' AND (WorkflowType = 'runPipeline' OR (WorkflowType = 'runPrediction' AND ParentWorkflowId IS NULL))`,
    });
  });

  it('filters by status, model, pipeline name and id', () => {
    const q = listQuery({ status: 'canceled', model: 'a/b', pipeline: 'poster', q: 'abc' });
    expect('query' in q && q.query).toContain(`ExecutionStatus = 'Canceled'`);
    expect('query' in q && q.query).toContain(`ReplicateModel = 'a/b'`);
    expect('query' in q && q.query).toContain(`WorkflowId STARTS_WITH 'pipeline-poster-'`);
    expect('query' in q && q.query).toContain(`ReplicatePredictionId = 'abc'`);
  });

  it.each([
    [{ q: "x' OR 1=1 OR WorkflowId='y" }, 'q: quotes, backslashes and control characters cannot be searched'],
    [{ model: 'a\\b' }, 'model: quotes'],
    [{ status: 'weird' }, 'status: one of running, succeeded'],
    [{ pipeline: 'Has Spaces' }, 'pipeline: a pipeline name'],
  ])('refuses %j', (filter, problem) => {
    const q = listQuery(filter);
    expect('problem' in q && q.problem).toContain(problem);
  });
});

describe('the step graph', () => {
  it('puts each step one column right of its deepest dependency, in order within a column', () => {
    const layout = layoutGraph(['a', 'b', 'c', 'd'], { a: [], b: [], c: ['a'], d: ['c', 'b'] });
    expect(layout.at).toEqual({
      a: { col: 0, row: 0 },
      b: { col: 0, row: 1 },
      c: { col: 1, row: 0 },
      d: { col: 2, row: 0 },
    });
    expect(layout).toMatchObject({ cols: 3, rows: 2 });
  });
});

/** Markup with each run of whitespace as one space, as a browser shows its text. */
const flat = (markup: string) => markup.replace(/\s+/g, ' ');

describe('a run and a pipeline as their pages say them', () => {
  const ctx: ViewContext = {
    basePath: '',
    csrf: 'token',
    temporalUiUrl: 'http://127.0.0.1:8233',
    namespace: 'default',
    approvals: true,
    rerun: false,
    cli: 'npx replicate-temporal',
    storeKey: (e) => e.path,
  };

  function runView(over: Partial<RunView> = {}): RunView {
    return {
      kind: 'run',
      workflowId: 'run-1',
      workflowStatus: 'FAILED',
      startTime: '2030-01-01T00:00:00.000Z',
      closeTime: '2030-01-01T00:00:05.000Z',
      pipelineId: null,
      request: { model: 'a/b', input: { prompt: '<i>x</i>' } },
      state: null,
      result: null,
      outcome: {
        workflowId: 'run-1',
        predictionId: 'p1',
        status: 'failed',
        output: null,
        metrics: null,
        error: {
          type: 'PredictionFailed',
          message: 'CUDA out of memory',
          logsTail: ['step 1', '<b>step 2</b>'],
        },
      },
      explanation: explainFailure('PredictionFailed'),
      seen: {},
      problem: null,
      ...over,
    };
  }

  it('a failed run: the error, what it means, the last log lines, a link to the Temporal UI, no cancel', () => {
    const page = runBody(runView(), ctx).text;
    expect(page).toContain('<strong>PredictionFailed</strong>: CUDA out of memory');
    expect(page).toContain(explainFailure('PredictionFailed')!);
    expect(page).toContain('&lt;b&gt;step 2&lt;/b&gt;');
    expect(page).toContain('href="http://127.0.0.1:8233/namespaces/default/workflows/run-1"');
    expect(page).not.toContain('Cancel run');
    expect(runStatus(runView())).toBe('failed');
  });

  it('a running run can be canceled; its status is the job status, queued while it waits for a slot', () => {
    const state = {
      kind: 'prediction' as const,
      model: 'a/b',
      predictionId: null,
      status: 'creating' as const,
      polls: 0,
      nextPollAt: null,
      startedAt: '2030-01-01T00:00:00.000Z',
      completedAt: null,
      deadline: '2030-01-01T00:10:00.000Z',
      logsTail: [],
      error: null,
      webUrl: null,
      runs: 1,
      queue: { key: 'a/b', position: 3, limit: 2 },
    };
    const v = runView({
      workflowStatus: 'RUNNING',
      closeTime: null,
      outcome: null,
      explanation: null,
      state,
    });
    expect(runStatus(v)).toBe('queued');
    const page = runBody(v, ctx).text;
    expect(page).toContain('Cancel run');
    expect(page).toContain('position 3 for a/b (limit 2)');
    expect(page).toContain('<input type="hidden" name="csrf" value="token" />');
  });

  function pipelineView(children: PipelineView['children'], status = 'running'): PipelineView {
    const step = {
      kind: 'prediction',
      runs: 2,
      status: status as 'running',
      predictionIds: [],
      childWorkflowIds: ['p--gen-0', 'p--gen-1'],
      startedAt: '2030-01-01T00:00:00.000Z',
      completedAt: null,
      elapsedMs: null,
      outputs: [],
      files: [],
      predictTime: 0,
      error: null,
    };
    return {
      kind: 'pipeline',
      workflowId: 'p',
      workflowStatus: 'RUNNING',
      startTime: '2030-01-01T00:00:00.000Z',
      closeTime: null,
      spec: null,
      rerunOf: null,
      deps: { gen: [] },
      order: ['gen'],
      report: {
        pipelineId: 'p',
        name: 'x',
        status: 'succeeded',
        steps: { gen: step },
        manifest: { path: null, files: [] },
        cost: { predictTime: {}, totalPredictTime: 0, estimatedUsd: 0 },
      },
      children,
      failure: null,
      problem: null,
    };
  }
  const child = (workflowId: string, status: string, queued: string | null = null) => ({
    workflowId,
    status,
    predictionId: null,
    logLine: null,
    queued,
    error: null,
  });

  it('a running step says what its runs do: queued, processing, starting, saving outputs', () => {
    expect(
      stepStatus(pipelineView({ 'p--gen-0': child('p--gen-0', 'creating', 'queued: position 1') }), 'gen'),
    ).toBe('queued');
    expect(stepStatus(pipelineView({ 'p--gen-0': child('p--gen-0', 'processing') }), 'gen')).toBe(
      'processing',
    );
    expect(stepStatus(pipelineView({ 'p--gen-0': child('p--gen-0', 'starting') }), 'gen')).toBe('starting');
    const done = { 'p--gen-0': child('p--gen-0', 'succeeded'), 'p--gen-1': child('p--gen-1', 'succeeded') };
    expect(stepStatus(pipelineView(done), 'gen')).toBe('saving outputs');
    expect(stepStatus(pipelineView({}), 'gen')).toBe('running');
    // statuses added by approvals and reuse are shown as they are
    expect(stepStatus(pipelineView({}, 'waiting'), 'gen')).toBe('waiting');
    // a pipeline canceled while the step ran
    expect(stepStatus({ ...pipelineView({}), workflowStatus: 'CANCELLED' }, 'gen')).toBe('canceled');
  });

  /** pipeline `p` with one step `gen` as `over` says, running or `closed` */
  function withStep(over: Partial<StepProgress>, workflowStatus: PipelineView['workflowStatus'] = 'RUNNING') {
    const v = pipelineView({});
    v.workflowStatus = workflowStatus;
    v.closeTime = workflowStatus === 'RUNNING' ? null : '2030-01-01T00:01:00.000Z';
    Object.assign(v.report!.steps.gen!, { childWorkflowIds: [], ...over });
    return v;
  }
  const waiting = {
    kind: 'approve',
    status: 'waiting' as const,
    runs: 1,
    approval: {
      message: 'look at the <b>drafts</b>',
      waitingSince: '2030-01-01T00:00:10.000Z',
      deadline: '2030-01-01T01:00:10.000Z',
      onTimeout: 'reject' as const,
      decision: null,
    },
  };

  it('a waiting step: its question, until when, approve and reject buttons, and the command that decides', () => {
    const page = flat(pipelineBody(withStep(waiting), ctx).text);
    expect(page).toContain('<dt>Approval</dt> <dd>look at the &lt;b&gt;drafts&lt;/b&gt;</dd>');
    expect(page).toContain('<time datetime="2030-01-01T01:00:10.000Z"');
    expect(page).toMatch(
      /Waits for a decision: asked <time datetime="2030-01-01T00:00:10.000Z"[^]*; if nobody decides, it is rejected <time datetime="2030-01-01T01:00:10.000Z"/,
    );
    expect(page).toContain('Approve gen');
    expect(page).toContain('Reject gen');
    expect(page).toContain('action="/pipelines/p/approve"');
    expect(page).toContain(
      '<code>npx replicate-temporal pipeline approve p gen [--reject] [--reason TEXT]</code>',
    );
    // buttons off: the question and the command stay
    const off = pipelineBody(withStep(waiting), { ...ctx, approvals: false }).text;
    expect(off).not.toContain('Approve gen');
    expect(off).toContain('pipeline approve p gen');
  });

  it('a decided step says who decided, when and why; a timeout says nobody did', () => {
    const at = '2030-01-01T00:02:00.000Z';
    const decided = (decision: Decision, status: 'succeeded' | 'failed') =>
      pipelineBody(
        withStep({
          ...waiting,
          status,
          error: status === 'failed' ? 'step gen was not approved' : null,
          approval: { ...waiting.approval, decision },
        }),
        ctx,
      ).text;
    const yes = decided({ approved: true, by: 'alice', reason: null, at }, 'succeeded');
    expect(yes).toMatch(/Approved by <strong>alice<\/strong>\s*<time datetime="2030-01-01T00:02:00.000Z"/);
    expect(yes).not.toContain('Approve gen');
    const no = decided({ approved: false, by: 'web', reason: 'too <i>dark</i>', at }, 'failed');
    expect(no).toContain('Rejected by <strong>web</strong>');
    expect(no).toContain(': too &lt;i&gt;dark&lt;/i&gt;');
    expect(no).not.toContain('was not approved'); // the decision says it
    const late = decided({ approved: false, by: 'timeout', reason: null, at, timedOut: true }, 'failed');
    expect(late).toContain('Rejected by its timeout: nobody decided by');
    // a reused approval: the earlier run's decision is its output
    const reused = pipelineBody(
      withStep({
        kind: 'approve',
        status: 'succeeded',
        runs: 1,
        outputs: [{ approved: true, by: 'bob', reason: 'fine', at }],
        reused: [{ index: 0, how: 'rerun', pipelineId: 'old', step: 'gen', predictionId: null }],
      }),
      ctx,
    ).text;
    expect(reused).toContain('Approved by <strong>bob</strong>');
    expect(reused).not.toContain('<details class="json">');
  });

  it('a step an earlier result served is reused or cached, with where it came from, at $0', () => {
    const rerun = (i: number) => ({
      index: i,
      how: 'rerun' as const,
      pipelineId: 'old',
      step: 'gen',
      predictionId: `pred${i}`,
    });
    const reused = withStep({ status: 'succeeded', runs: 2, reused: [rerun(0), rerun(1)] }, 'COMPLETED');
    expect(stepStatus(reused, 'gen')).toBe('reused');
    const page = flat(pipelineBody(reused, ctx).text);
    expect(page).toContain(
      'Reused: 2 of 2 runs from <a href="/pipelines/old#step-gen">old</a> (step gen, <code>pred0</code>, <code>pred1</code>), no prediction created, $0',
    );
    // one of two runs reused: the step ran
    expect(stepStatus(withStep({ status: 'succeeded', runs: 2, reused: [rerun(1)] }), 'gen')).toBe(
      'succeeded',
    );
    // the result cache, of a single run
    const cached = withStep({
      status: 'succeeded',
      runs: 1,
      reused: [{ index: 0, how: 'cache', pipelineId: 'run-9', step: 'output', predictionId: 'p9' }],
    });
    expect(stepStatus(cached, 'gen')).toBe('cached');
    expect(pipelineBody(cached, ctx).text).toMatch(/Cached: from <a href="\/runs\/run-9">run-9<\/a>/);
    expect(stepWord({ status: 'failed', runs: 1, reused: [rerun(0)] })).toBe('failed');
  });

  it('a closed pipeline can be rerun from the page (and the command says how from a terminal)', () => {
    const on = { ...ctx, rerun: true };
    const closed = withStep({ status: 'failed', runs: 1, error: 'boom' }, 'FAILED');
    closed.rerunOf = { pipelineId: 'older', from: 'gen' };
    const page = pipelineBody(closed, on).text;
    expect(page).toContain('Rerun from gen');
    expect(page).toContain('<input type="hidden" name="from" value="gen" />');
    expect(page).toContain('Rerun, reusing what succeeded');
    expect(page).toContain('<code>npx replicate-temporal pipeline rerun p [--from STEP]</code>');
    expect(page).toMatch(/Rerun of<\/dt>\s*<dd>\s*<a href="\/pipelines\/older">older<\/a>\s*from step gen/);
    expect(pipelineBody(withStep({ status: 'running' }), on).text).not.toContain('Rerun');
    expect(pipelineBody(closed, ctx).text).not.toContain('Rerun from');
  });
});
