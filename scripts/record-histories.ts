/**
 * Record the histories of runPrediction's main paths into test/histories/, for the replay test.
 * Run after a deliberate, versioned change of workflow code: `npm run record-histories -- v3` (a new prefix;
 * keep the older files: they are what runs started by older code look like).
 * Committed histories are what old runs look like; the replay test keeps new code compatible with them.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ensureBinary, PROJECT_ROOT, TEMPORAL_CLI } from '../src/dev/binaries';
import type { WorkflowHandle } from '@temporalio/client';
import { loadPipelineFile } from '../src/pipeline-file';
import { runPipeline } from '../src/workflows';
import { startWebhookReceiver } from '../src/webhooks';
import { FAST_POLLING, SECRET_TOKEN, startTestbed } from '../test/helpers/testbed';

async function main(): Promise<void> {
  const version = process.argv[2];
  if (!version || !/^v\d+$/.test(version)) throw new Error('usage: npm run record-histories -- v<N>');
  const bed = await startTestbed();
  try {
    const runs = {
      succeeded: { model: 'google/imagen-4-ultra', input: { prompt: 'a lighthouse at dusk' } },
      failed: { model: 'sim/fail', input: {} },
      aborted: { model: 'sim/abort', input: {} },
      'invalid-input-422': { model: 'google/imagen-4-ultra', input: {} },
      'user-canceled': { model: 'sim/never', input: {} },
      deadline: { model: 'sim/never', input: {} },
    };
    const handles: [string, WorkflowHandle][] = [];
    for (const [name, request] of Object.entries(runs)) {
      const handle = await bed.start(
        { ...request, polling: FAST_POLLING },
        { workflowId: `history-${name}`, workflowExecutionTimeout: name === 'deadline' ? '10s' : '1m' },
      );
      handles.push([name, handle]);
      if (name === 'user-canceled') {
        await bed.sim.waitFor((p) => p.model === 'sim/never' && p.status === 'processing');
        await new Promise((r) => setTimeout(r, 1_000)); // let a few polls land in the history
        await handle.cancel();
      }
      await handle.result().catch(() => undefined);
    }
    // An outage of GETs mid-run (polls fail, the run keeps polling) and an output kept out of band (claim check).
    bed.sim.setModel('sim/outage-job', { startDelayMs: 200, durationMs: 3_000, output: '$input' });
    const outage = await bed.start(
      { model: 'sim/outage-job', input: { outage: true }, polling: FAST_POLLING },
      { workflowId: 'history-outage' },
    );
    await bed.sim.waitFor((p) => p.model === 'sim/outage-job' && p.status === 'processing');
    bed.sim.setFaults({ serverErrorRate: 1, serverErrorRoutes: 'get' });
    await new Promise((r) => setTimeout(r, 4_500)); // more than one poll's three attempts
    bed.sim.setFaults({});
    await outage.result();
    handles.push(['outage', outage]);
    bed.sim.setModel('sim/huge', { startDelayMs: 100, durationMs: 300, output: 'x'.repeat(300_000) });
    const large = await bed.start(
      { model: 'sim/huge', input: {}, polling: FAST_POLLING },
      { workflowId: 'history-large-output' },
    );
    await large.result();
    handles.push(['large-output', large]);

    // A pipeline: fan-out, a dependent step, persisted outputs.
    const pipeline = await bed.env.client.workflow.start(runPipeline, {
      taskQueue: bed.config.taskQueue,
      workflowId: 'history-pipeline',
      workflowExecutionTimeout: '2m',
      args: [{ spec: loadPipelineFile(path.join(PROJECT_ROOT, 'examples', 'poster.yaml')) }],
    });
    await pipeline.result();
    handles.push(['pipeline', pipeline]);

    // Webhooks: the run wakes on the signal instead of polling.
    const receiver = await startWebhookReceiver({
      client: bed.env.client,
      port: 0,
      secret: null,
      replicate: { token: SECRET_TOKEN, baseUrl: bed.sim.baseUrl },
    });
    const webhookRun = await bed.withWorker(
      { webhook: { baseUrl: receiver.origin, port: null, secret: null } },
      async (taskQueue) => {
        const handle = await bed.start(
          { model: 'google/imagen-4-ultra', input: { prompt: 'webhooks' } },
          { workflowId: 'history-webhook', taskQueue },
        );
        await handle.result();
        return handle;
      },
    );
    await receiver.stop();
    handles.push(['webhook', webhookRun]);

    for (const [name, handle] of handles) {
      const file = path.join(PROJECT_ROOT, 'test', 'histories', `${version}-${name}.json`);
      // The CLI's JSON is the format Worker.runReplayHistory documents (the SDK's historyToJSON trips on
      // duplicated protobufjs copies in node_modules).
      const json = execFileSync(ensureBinary(TEMPORAL_CLI), [
        'workflow',
        'show',
        '--workflow-id',
        handle.workflowId,
        '--address',
        bed.config.address,
        '--output',
        'json',
      ]);
      writeFileSync(file, json);
      console.log(`recorded ${file}`);
    }
  } finally {
    await bed.teardown();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
