/** Recorded histories of the main paths must replay against the current workflow code (determinism). */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { workflowsPath } from '../src/worker';

const dir = path.join(__dirname, 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
let workflowBundle: { code: string };

beforeAll(async () => {
  workflowBundle = await bundleWorkflowCode({ workflowsPath });
});

describe('replay', () => {
  // v1: before search attributes (no patch marker); v2: with them, adoption and continue-as-new.
  // v3: with pipelines, the data_removed check and the resume guard. v4: webhooks (signal or timer), UI metadata.
  // v5: polls as local activities (the local-activity-polls-v1 patch).
  // v6: polls ride out outages, webhook news per job id (outages-and-late-news-v1); pipelines keep siblings and
  // check step inputs (pipeline-keep-siblings-v1, pipeline-step-checks-v1); outage and claim-check runs.
  // v7: recorded with production's workers (polls as activities on the reads queue: fleet-rate-limits-v1); two runs
  // of a model limited to 1, one waiting for its slot, and their limiter replicateSlots (model-concurrency-v1);
  // budgets-v1 (a run stopped by its budget, one under it, a pipeline stopped by its budget); the reconciler in list
  // mode (reconcile-without-deadline-v1).
  const MAIN_PATHS = ['aborted', 'deadline', 'failed', 'invalid-input-422', 'succeeded', 'user-canceled'];
  it.each([
    ['v1', MAIN_PATHS],
    ['v2', MAIN_PATHS],
    ['v3', [...MAIN_PATHS, 'pipeline']],
    ['v4', [...MAIN_PATHS, 'pipeline', 'webhook']],
    ['v5', [...MAIN_PATHS, 'pipeline', 'webhook']],
    ['v6', [...MAIN_PATHS, 'pipeline', 'webhook', 'outage', 'large-output']],
    [
      'v7',
      [
        ...MAIN_PATHS,
        ...['pipeline', 'webhook', 'outage', 'large-output'],
        ...['slots-first', 'slots-waited', 'slots-limiter'],
        ...['budget-exceeded', 'budget-under', 'pipeline-budget', 'reconcile'],
      ],
    ],
  ])('has %s histories for the main paths', (version, names) => {
    expect(files.filter((f) => f.startsWith(`${version}-`)).sort()).toEqual(
      names.map((n) => `${version}-${n}.json`).sort(),
    );
  });

  it.each(files)('%s replays without nondeterminism', async (file) => {
    const history = historyFromJSON(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
    expect(history.events?.length).toBeGreaterThan(5);
    // the recorded workflow id (child ids derive from it)
    await Worker.runReplayHistory(
      { workflowBundle },
      history,
      `history-${file.replace(/^v\d+-/, '').replace('.json', '')}`,
    );
  });
});
