/**
 * The bench's worker process: `src/worker/main.ts`'s createWorkers (every Worker of `npm run worker`) plus tuning read from BENCH_WORKER_OPTIONS (JSON,
 * e.g. {"maxCachedWorkflows":200}), so `tune` can compare settings in a separate, measurable process.
 * Same environment variables as `npm run worker`.
 */
import { NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { readWorkerConfig } from '../../src/config';
import { ensureSearchAttributes } from '../../src/client/temporal-setup';
import { createWorkers, runWorkers } from '../../src/worker';

export const TUNABLE_KEYS = [
  'maxCachedWorkflows',
  'maxConcurrentWorkflowTaskExecutions',
  'maxConcurrentActivityTaskExecutions',
  'maxConcurrentWorkflowTaskPolls',
  'maxConcurrentActivityTaskPolls',
  'workflowThreadPoolSize',
  'reuseV8Context',
] as const;
/** Tuning keys spawnWorker applies to the process (environment, node flags) rather than to WorkerOptions. */
const PROCESS_KEYS = ['prebuiltBundle', 'maxOldSpaceSizeMb'];
export type Tuning = Partial<Pick<WorkerOptions, (typeof TUNABLE_KEYS)[number]>> & {
  /** run the worker on a prebuilt workflow bundle (WORKFLOW_BUNDLE) instead of bundling at start */
  prebuiltBundle?: boolean;
  /** node --max-old-space-size for the worker process (V8 collects sooner; the SDK sizes its cache from it) */
  maxOldSpaceSizeMb?: number;
};

export function parseTuning(raw: string | undefined): Tuning {
  if (!raw?.trim()) return {};
  const parsed = JSON.parse(raw) as Record<string, unknown>;
  for (const key of Object.keys(parsed)) {
    if (!PROCESS_KEYS.includes(key) && !(TUNABLE_KEYS as readonly string[]).includes(key))
      throw new Error(`unknown tuning key ${key}`);
  }
  return parsed as Tuning;
}

async function main(): Promise<void> {
  const config = readWorkerConfig();
  // prebuiltBundle and maxOldSpaceSizeMb are applied by spawnWorker (environment, node flags)
  const {
    prebuiltBundle: _b,
    maxOldSpaceSizeMb: _m,
    ...tuning
  } = parseTuning(process.env.BENCH_WORKER_OPTIONS);
  const connection = await NativeConnection.connect({ address: config.address });
  await ensureSearchAttributes(connection, config.namespace);
  // every Worker `npm run worker` runs (the reads queue's too, src/worker/flow-control.ts); the tuning applies to the first
  const workers = await createWorkers(config, connection, tuning);
  const stop = (): void => {
    for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  console.log(`worker polling task queue "${config.taskQueue}" with ${JSON.stringify(tuning)}`);
  await runWorkers(workers);
  await connection.close();
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`bench worker: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
