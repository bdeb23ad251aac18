/**
 * Recorded histories must replay against the current workflow code (determinism): test/histories/<release>/ holds
 * what runs started by that release look like (`npm run record-histories -- <release>`). From 1.0 on, every change
 * of workflow behaviour is gated with patched() and adds a new release folder; older folders are never removed
 * while runs of those releases may still be open. The newest release's histories also replay and read with
 * encryption on (ENCRYPTION_KEY: histories written before it pass through the codec untouched).
 */
import { randomBytes } from 'node:crypto';
import { sharedWorkflowBundle } from './helpers/shared-bundle';
import { ApplicationFailure } from '@temporalio/common';
import { loadDataConverter } from '@temporalio/common/lib/internal-non-workflow';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleOptions, createDataConverter } from '../src/encryption/data-converter';
import { workflowsPath } from '../src/worker';
import { loadHistory, recordedHistories, type RecordedHistory } from './helpers/histories';

const histories = recordedHistories();
let workflowBundle: { code: string };

/** Every path the workflows take, as recorded by scripts/record-histories.ts. */
const PATHS = [
  ...['aborted', 'deadline', 'failed', 'invalid-input-422', 'succeeded', 'user-canceled'],
  ...['pipeline', 'webhook', 'outage', 'large-output'],
  ...['slots-first', 'slots-waited', 'slots-limiter'],
  ...['budget-exceeded', 'budget-under', 'pipeline-budget', 'reconcile'],
  ...['adopted', 'late-commit', 'late-commit-watch', 'claim'],
  ...['predictive', 'cached', 'pipeline-rerun', 'pipeline-approval'],
];

beforeAll(async () => {
  workflowBundle = await sharedWorkflowBundle();
});

describe('replay', () => {
  it('has a history for every path of every release', () => {
    const releases = [...new Set(histories.map((h) => h.release))];
    expect(releases.length).toBeGreaterThan(0);
    for (const release of releases) {
      const names = histories.filter((h) => h.release === release).map((h) => h.name);
      expect(names.sort(), release).toEqual([...PATHS].sort());
    }
  });

  it.each(histories.map((h) => [h.file, h] as const))(
    '%s replays without nondeterminism',
    async (_file, h) => {
      const history = loadHistory(h);
      expect(history.events?.length).toBeGreaterThanOrEqual(5); // a claim: started, one task, completed
      await Worker.runReplayHistory({ workflowBundle }, history, h.workflowId);
    },
  );
});

describe('replay with ENCRYPTION_KEY set', () => {
  // histories recorded without encryption, against a worker and a client that encrypt: nothing to decrypt passes through
  const dataConverter = createDataConverter({ keys: { current: randomBytes(32) } });
  const newest = [...new Set(histories.map((h) => h.release))].sort().at(-1);
  const current = histories.filter((h) => h.release === newest);
  const named = (name: string) => current.find((h) => h.name === name)!;
  let encryptedBundle: { code: string };

  beforeAll(async () => {
    // the SDK loads the failure converter by path with Node's require: TypeScript needs tsx's hook under vitest
    const { register } = await import('tsx/cjs/api');
    register();
    encryptedBundle = await bundleWorkflowCode({ workflowsPath, ...bundleOptions(dataConverter) });
  });

  it.each(current.map((h) => [h.file, h] as const))('%s replays', async (_file, h: RecordedHistory) => {
    await Worker.runReplayHistory(
      { workflowBundle: encryptedBundle, dataConverter },
      loadHistory(h),
      h.workflowId,
    );
  });

  it('reads their results and failures as before', async () => {
    const { payloadCodecs, payloadConverter, failureConverter } = loadDataConverter(dataConverter);
    const codec = payloadCodecs[0]!;
    const succeeded = loadHistory(named('succeeded')).events!.find(
      (e) => e.workflowExecutionCompletedEventAttributes,
    )!;
    const [result] = await codec.decode(
      succeeded.workflowExecutionCompletedEventAttributes!.result!.payloads!,
    );
    expect(payloadConverter.fromPayload(result!)).toMatchObject({ status: 'succeeded' });
    const failed = loadHistory(named('failed')).events!.find(
      (e) => e.workflowExecutionFailedEventAttributes,
    )!;
    const error = failureConverter.failureToError(
      failed.workflowExecutionFailedEventAttributes!.failure!,
      payloadConverter,
    );
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error.message).toMatch(/^prediction \w+ failed: /);
  });
});
