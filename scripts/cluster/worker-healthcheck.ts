/**
 * Health check of a worker container (the Dockerfile's HEALTHCHECK, bundled to lib/healthcheck.js): exits 0 when a
 * worker of this host (identity `<pid>@<hostname>`, one worker per container) has polled its task queue within the
 * last 150 s, 1 otherwise. It connects as the worker does (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_TASK_QUEUE). Once the worker serves its own liveness/readiness endpoints, the image should probe those.
 */
import { hostname } from 'node:os';
import { readTemporalConfig } from '../../src/config';
import { connect, recentPollers } from './temporal';

export async function workerOfHostPolls(host = hostname(), windowMs = 150_000): Promise<string | null> {
  const config = readTemporalConfig();
  const connection = await connect(config.address, config.tls);
  try {
    const pollers = await recentPollers(
      connection,
      config.namespace,
      config.taskQueue,
      Date.now() - windowMs,
    );
    const ours = (ids: string[]): boolean => ids.some((id) => id.endsWith(`@${host}`));
    if (ours(pollers.workflow) && ours(pollers.activity)) return null;
    return `no worker on ${host} polled task queue ${config.taskQueue} (namespace ${config.namespace}) in the last ${windowMs / 1000} s`;
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  workerOfHostPolls().then(
    (problem) => {
      if (problem) console.error(problem);
      process.exit(problem ? 1 : 0);
    },
    (error: unknown) => {
      console.error(`healthcheck: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
