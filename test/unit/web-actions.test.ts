/**
 * The page's approve and rerun actions refuse a bad form before anything reaches Temporal (src/web/actions.ts):
 * the workflow's own refusals (an unknown step, one not waiting) are the browser test's (test/ui/web.test.ts).
 */
import type { Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { approveStep, rerunFrom, WebActionError, type RerunPipeline } from '../../src/web/actions';
import type { PipelineView } from '../../src/web/read/pipeline';

/** A client every call of which fails the test. */
const untouchable = new Proxy({} as Client, {
  get: (_t, key) => {
    throw new Error(`the client was used (${String(key)})`);
  },
});

function view(workflowStatus: PipelineView['workflowStatus']): PipelineView {
  return {
    kind: 'pipeline',
    workflowId: 'pipeline-review-1',
    workflowStatus,
    startTime: '2030-01-01T00:00:00.000Z',
    closeTime: workflowStatus === 'RUNNING' ? null : '2030-01-01T00:01:00.000Z',
    spec: {
      name: 'review',
      inputs: {},
      failure: 'fail-fast',
      steps: {
        draft: { model: 'a/b', input: {} },
        review: {
          approve: { message: 'ok?', timeout: '1h', onTimeout: 'reject' },
          input: {},
          needs: ['draft'],
        },
      },
    },
    rerunOf: null,
    deps: { draft: [], review: ['draft'] },
    order: ['draft', 'review'],
    report: null,
    children: {},
    failure: null,
    problem: null,
  };
}

async function refusal(action: Promise<unknown>): Promise<{ status: number; message: string }> {
  const error = await action.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WebActionError);
  return { status: (error as WebActionError).status, message: (error as WebActionError).message };
}

describe('approve', () => {
  it.each([
    ['approve=true', 400, 'step: the name of the step to decide'],
    ['step=review&approve=yes', 400, 'approve: must be true or false'],
    [`step=review&approve=false&reason=${'x'.repeat(501)}`, 400, 'reason: at most 500 characters'],
  ])('refuses %s', async (form, status, message) => {
    expect(
      await refusal(approveStep(untouchable, view('RUNNING'), new URLSearchParams(form), 'web')),
    ).toEqual({ status, message });
  });

  it('refuses a decision for a pipeline that has ended', async () => {
    const form = new URLSearchParams('step=review&approve=true');
    expect(await refusal(approveStep(untouchable, view('FAILED'), form, 'web'))).toEqual({
      status: 409,
      message: 'pipeline pipeline-review-1 has ended: nothing waits for a decision',
    });
  });
});

describe('rerun', () => {
  const calls: unknown[] = [];
  const rerun: RerunPipeline = async (_client, id, options) => {
    calls.push([id, options]);
    return { workflowId: 'pipeline-review-2' };
  };

  it('refuses a `from` that is not a step, and a pipeline still running; starts nothing', async () => {
    expect(
      await refusal(rerunFrom(untouchable, rerun, view('FAILED'), new URLSearchParams('from=nope'))),
    ).toEqual({
      status: 400,
      message: 'from: "nope" is not a step of pipeline pipeline-review-1; its steps are draft, review',
    });
    expect(
      await refusal(rerunFrom(untouchable, rerun, view('RUNNING'), new URLSearchParams('from=draft'))),
    ).toMatchObject({ status: 409 });
    expect(calls).toEqual([]);
  });

  it('reruns from a step, or (no step) reusing what succeeded; the helper’s refusals are 400s', async () => {
    const failed = view('FAILED');
    expect(await rerunFrom(untouchable, rerun, failed, new URLSearchParams('from=review'))).toBe(
      'pipeline-review-2',
    );
    expect(await rerunFrom(untouchable, rerun, failed, new URLSearchParams(''))).toBe('pipeline-review-2');
    expect(calls).toEqual([
      ['pipeline-review-1', { from: 'review' }],
      ['pipeline-review-1', {}],
    ]);
    const refusing: RerunPipeline = () =>
      Promise.reject(new TypeError('workflow x is a runPrediction run, not a pipeline'));
    expect(await refusal(rerunFrom(untouchable, refusing, failed, new URLSearchParams('')))).toEqual({
      status: 400,
      message: 'workflow x is a runPrediction run, not a pipeline',
    });
  });
});
