/** How the CLI words a run's outcome, from the failure the workflow ended with (no server needed). */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, RetryState } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { closest, newLines, outcomeOf } from '../../src/cli';
import type { runPrediction } from '../../src/workflows';

/** A handle whose run ended with `failure`; its status query is unavailable (no worker). */
function endedWith(failure: ApplicationFailure): WorkflowHandle<typeof runPrediction> {
  const error = new WorkflowFailedError(
    'Workflow execution failed',
    failure,
    RetryState.NON_RETRYABLE_FAILURE,
  );
  return {
    workflowId: 'w-1',
    result: () => Promise.reject(error),
    query: () => Promise.reject(new Error('no worker')),
    client: { withDeadline: (_deadline: number, fn: () => Promise<unknown>) => fn() },
  } as unknown as WorkflowHandle<typeof runPrediction>;
}

describe('outcomeOf', () => {
  it.each([
    ['Replicate create failed with a server error (503 Service Unavailable); will retry'],
    ['Replicate get did not complete (connect ECONNREFUSED 127.0.0.1:1); will retry'],
    ['Replicate create was rate limited (429); retrying in 5000 ms'],
  ])('a run that gave up never says it will retry: %s', async (message) => {
    const summary = await outcomeOf(
      endedWith(ApplicationFailure.create({ type: 'ReplicateServerError', message, nonRetryable: true })),
    );
    expect(summary.status).toBe('error');
    expect(summary.error!.message).not.toMatch(/will retry|retrying/);
    expect(summary.error!.message).toContain(message.replace(/; (will retry|retrying in .*)$/, ''));
    expect(summary.error!.message).toMatch(/gave up/);
  });
});

describe('helpers', () => {
  it('closest finds typos, transpositions and a missing dash, and nothing for unrelated words', () => {
    expect(closest('workflowid', ['model', 'workflow-id', 'json'])).toBe('workflow-id');
    expect(closest('modle', ['model', 'input'])).toBe('model');
    expect(closest('colour', ['model', 'input', 'json'])).toBeUndefined();
  });

  it('newLines returns only the lines of a log tail not seen before', () => {
    expect(newLines([], ['a', 'b'])).toEqual(['a', 'b']);
    expect(newLines(['a', 'b'], ['a', 'b', 'c'])).toEqual(['c']);
    expect(newLines(['a', 'b', 'c'], ['c', 'd'])).toEqual(['d']); // the tail moved on
    expect(newLines(['a'], ['a'])).toEqual([]);
  });
});
