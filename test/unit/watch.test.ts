/** The watch loop of the client helpers, on a fake handle: the final state of a run that closed is not lost. */
import type { WorkflowHandle } from '@temporalio/client';
import { expect, it } from 'vitest';
import { pollUntilClosed } from '../../src/client/watch';

it('when the run has closed, a final read that fails at first is retried, so the final state is yielded', async () => {
  const handle = {
    client: {
      withAbortSignal: (_signal: AbortSignal, fn: () => unknown) => fn(),
      withDeadline: (_deadline: number, fn: () => unknown) => fn(),
    },
    describe: async () => ({ status: { name: 'COMPLETED' } }),
  } as unknown as WorkflowHandle;
  // the closed run's query: the first read times out (null), the next answers
  const answers: (string | null)[] = [null, 'succeeded'];
  const seen: string[] = [];
  for await (const state of pollUntilClosed(
    handle,
    async () => answers.shift() ?? null,
    () => false,
    {
      intervalMs: 1,
    },
  ))
    seen.push(state);
  expect(seen).toEqual(['succeeded']);
});
