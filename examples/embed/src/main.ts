// Run `illustrate` once on your own worker and print its result as JSON.
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createDataConverter, readEncryptionKeys } from 'replicate-temporal';
import { registerSearchAttributes } from 'replicate-temporal/client';
import { illustrate } from './workflows';
import { createWorker } from './worker';

async function main(): Promise<void> {
  const address = process.env.TEMPORAL_ADDRESS ?? 'localhost:7233';
  const taskQueue = process.env.TASK_QUEUE ?? 'embed-example';
  // ENCRYPTION_KEY set: prompts and outputs are encrypted before they reach Temporal (docs/encryption.md)
  const keys = readEncryptionKeys();
  const dataConverter = keys ? createDataConverter({ keys }) : undefined;
  const client = new Client({ connection: await Connection.connect({ address }), dataConverter });
  // Our workflows set the Replicate* search attributes: register them once (idempotent; a fresh server has none).
  await registerSearchAttributes(client);
  const worker = await createWorker(await NativeConnection.connect({ address }), taskQueue, dataConverter);
  const result = await worker.runUntil(
    client.workflow.execute(illustrate, {
      taskQueue,
      workflowId: `illustrate-${randomUUID()}`,
      args: [process.argv[2] ?? 'a lighthouse at dusk'],
      workflowExecutionTimeout: '15m',
    }),
  );
  console.log(JSON.stringify(result));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
