/**
 * Recorded histories of the main paths must replay against the current workflow code (determinism); the current
 * version's also with encryption on (ENCRYPTION_KEY: histories written before it still replay and read).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { loadDataConverter } from '@temporalio/common/lib/internal-non-workflow';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleOptions, createDataConverter } from '../src/encryption/data-converter';
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

describe('replay with ENCRYPTION_KEY set', () => {
  // histories recorded without encryption, against a worker and a client that encrypt: nothing to decrypt passes through
  const dataConverter = createDataConverter({ keys: { current: randomBytes(32) } });
  const current = files.filter((f) => f.startsWith('v7-'));
  let encryptedBundle: { code: string };
  const historyOf = (file: string) => historyFromJSON(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));

  beforeAll(async () => {
    // the SDK loads the failure converter by path with Node's require: TypeScript needs tsx's hook under vitest
    const { register } = await import('tsx/cjs/api');
    register();
    encryptedBundle = await bundleWorkflowCode({ workflowsPath, ...bundleOptions(dataConverter) });
  });

  it.each(current)('%s replays', async (file) => {
    await Worker.runReplayHistory(
      { workflowBundle: encryptedBundle, dataConverter },
      historyOf(file),
      `history-${file.replace(/^v\d+-/, '').replace('.json', '')}`,
    );
  });

  it('reads their results and failures as before', async () => {
    const { payloadCodecs, payloadConverter, failureConverter } = loadDataConverter(dataConverter);
    const codec = payloadCodecs[0]!;
    const succeeded = historyOf('v7-succeeded.json').events!.find(
      (e) => e.workflowExecutionCompletedEventAttributes,
    )!;
    const [result] = await codec.decode(
      succeeded.workflowExecutionCompletedEventAttributes!.result!.payloads!,
    );
    expect(payloadConverter.fromPayload(result!)).toMatchObject({ status: 'succeeded' });
    const failed = historyOf('v7-failed.json').events!.find((e) => e.workflowExecutionFailedEventAttributes)!;
    const error = failureConverter.failureToError(
      failed.workflowExecutionFailedEventAttributes!.failure!,
      payloadConverter,
    );
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error.message).toMatch(/^prediction \w+ failed: CUDA out of memory$/);
  });
});
