/**
 * Why local polls have no start-to-close (src/workflows/retry-policies.ts, `localGetOptions`): the SDK's core (1.24)
 * arms a start-to-close timer for each attempt of a local activity and, on a local retry, replaces the previous one
 * without stopping it; when that orphan fires after its Worker has shut down, it panics on stderr
 * (`local_activities.rs:997:33: receive half not dropped`). The test suite shuts Workers down all the time, and a
 * poll that retried once within 20 s of that printed it.
 *
 *   npx tsx scripts/repro/local-activity-panic.ts            # a 6 s start-to-close: the panic, 6 s after attempt 1
 *   npx tsx scripts/repro/local-activity-panic.ts --without  # no start-to-close: nothing
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { freePort, startDevServer } from '../../src/dev/dev-server';

async function main(): Promise<void> {
  const startToClose = !process.argv.includes('--without');
  const server = await startDevServer({ port: await freePort(), uiPort: null });
  try {
    const workflowBundle = await bundleWorkflowCode({
      workflowsPath: require.resolve('./local-activity-panic-workflow'),
    });
    const connection = await NativeConnection.connect({ address: server.address });
    let attempts = 0;
    const activities = {
      flaky: async () => {
        if (attempts++ === 0) throw new Error('the first attempt fails');
        return 'ok';
      },
    };
    const worker = await Worker.create({ connection, taskQueue: 'repro', workflowBundle, activities });
    const client = new Client({ connection: await Connection.connect({ address: server.address }) });
    await worker.runUntil(
      client.workflow.execute('localActivityRetriedOnce', {
        taskQueue: 'repro',
        workflowId: `repro-${Date.now()}`,
        args: [startToClose],
      }),
    );
    console.log(`workflow done after ${attempts} attempts, Worker shut down; waiting 8 s for its timers`);
    await new Promise((resolve) => setTimeout(resolve, 8_000));
  } finally {
    await server.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
