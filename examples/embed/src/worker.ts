// Your worker: your workflows (which include ours) and our activities next to any of your own.
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from 'replicate-temporal/activities';

export async function createWorker(
  connection: NativeConnection,
  taskQueue: string,
  dataConverter?: DataConverter, // encryption at rest: the same one as your Client's
): Promise<Worker> {
  return Worker.create({
    connection,
    taskQueue,
    ...(dataConverter ? { dataConverter } : {}),
    workflowsPath: require.resolve('./workflows'),
    activities: {
      ...createActivities({
        token: requireEnv('REPLICATE_API_TOKEN'), // read here, in the worker: never in workflow arguments
        baseUrl: process.env.REPLICATE_BASE_URL ?? 'https://api.replicate.com/v1',
        outputDir: process.env.OUTPUT_DIR ?? 'outputs',
      }),
      // ...your own activities
    },
  });
}

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}
