/**
 * Recorded histories must replay against the current workflow code (determinism): test/histories/<release>/ holds
 * what runs started by that release look like (`npm run record-histories -- <release>`). From 1.0 on, every change
 * of workflow behaviour is gated with patched() and adds a new release folder; older folders are never removed
 * while runs of those releases may still be open.
 */
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { workflowsPath } from '../src/worker';
import { loadHistory, recordedHistories } from './helpers/histories';

const histories = recordedHistories();
let workflowBundle: { code: string };

/** Every path the workflows take, as recorded by scripts/record-histories.ts. */
const PATHS = [
  ...['aborted', 'deadline', 'failed', 'invalid-input-422', 'succeeded', 'user-canceled'],
  ...['pipeline', 'webhook', 'outage', 'large-output'],
  ...['slots-first', 'slots-waited', 'slots-limiter'],
  ...['budget-exceeded', 'budget-under', 'pipeline-budget', 'reconcile'],
];

beforeAll(async () => {
  workflowBundle = await bundleWorkflowCode({ workflowsPath });
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
      expect(history.events?.length).toBeGreaterThan(5);
      await Worker.runReplayHistory({ workflowBundle }, history, h.workflowId);
    },
  );
});
