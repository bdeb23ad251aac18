/**
 * Talking to the cluster's frontend: wait until it answers, register the namespace and our search attributes,
 * wait until the workers poll.
 */
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { ensureSearchAttributes } from '../../src/client/temporal-setup';
import { SEARCH_ATTRIBUTES } from '../../src/shared/search-attributes';

const GRPC_ALREADY_EXISTS = 6;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Calls `attempt` until it returns without throwing (every 250 ms) or `ms` passes; `alive()` false aborts. */
export async function until<T>(
  what: string,
  ms: number,
  attempt: () => Promise<T>,
  alive: () => string | null = () => null,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    const dead = alive();
    if (dead) throw new Error(`${what}: ${dead}`);
    try {
      return await attempt();
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${Math.round(ms / 1000)} s (${(last as Error)?.message ?? last})`);
    }
    await sleep(250);
  }
}

type Tls = NonNullable<Parameters<typeof Connection.connect>[0]>['tls'];
let clusterTls: Tls;

/** TLS for every connection made here to the cluster (`up --tls`: our CA and server name); undefined = plaintext. */
export function useClusterTls(tls: Tls): void {
  clusterTls = tls;
}

export async function connect(address: string, tls: Tls = clusterTls): Promise<Connection> {
  return Connection.connect({ address, connectTimeout: '2s', ...(tls ? { tls } : {}) });
}

/** The frontend answers and says the four services are serving (its health check covers history and matching). */
export async function frontendServing(address: string, tls: Tls = clusterTls): Promise<void> {
  const connection = await connect(address, tls);
  try {
    const health = await connection.healthService.check({
      service: 'temporal.api.workflowservice.v1.WorkflowService',
    });
    if (health.status !== 1) throw new Error(`health status ${health.status}`);
    await connection.workflowService.getSystemInfo({});
  } finally {
    await connection.close();
  }
}

/**
 * Registers `namespace` (idempotent) and our search attributes, then waits until a list query that uses them works
 * (namespace and search-attribute caches refreshed on the frontend).
 */
export async function ensureNamespace(
  connection: Connection,
  namespace: string,
  retentionDays = 3,
): Promise<'created' | 'existed'> {
  let outcome: 'created' | 'existed' = 'created';
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      description: 'replicate-temporal (npm run cluster)',
      workflowExecutionRetentionPeriod: msToTs(retentionDays * 24 * 3600_000),
    });
  } catch (error) {
    if ((error as { code?: number }).code !== GRPC_ALREADY_EXISTS) throw error;
    outcome = 'existed';
  }
  await until('namespace registered', 30_000, () =>
    connection.workflowService.describeNamespace({ namespace }),
  );
  await until('search attributes registered', 30_000, () => ensureSearchAttributes(connection, namespace));
  const query = `${SEARCH_ATTRIBUTES.map((a) => `${a.name} = 'cluster-check'`).join(' AND ')} AND ExecutionStatus = 'Running'`;
  await until('visibility answers a list query with our search attributes', 30_000, () =>
    connection.workflowService.listWorkflowExecutions({ namespace, query, pageSize: 1 }),
  );
  return outcome;
}

/**
 * Identities of the workers that polled `taskQueue` (workflow and activity queues alike) since `since` (ms): a
 * worker's default identity is `<pid>@<hostname>`. Pollers stay listed for a while after a worker is gone, so
 * callers look only at recent ones (an idle worker re-polls at least every ~70 s).
 */
export async function recentPollers(
  connection: Connection,
  namespace: string,
  taskQueue: string,
  since: number,
): Promise<{ workflow: string[]; activity: string[] }> {
  const identities = async (taskQueueType: temporal.api.enums.v1.TaskQueueType): Promise<string[]> => {
    const response = await connection.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType,
    });
    return (response.pollers ?? [])
      .filter((p) => Number(p.lastAccessTime?.seconds ?? 0) * 1000 >= since - 1000)
      .map((p) => p.identity ?? '');
  };
  const types = temporal.api.enums.v1.TaskQueueType;
  return {
    workflow: await identities(types.TASK_QUEUE_TYPE_WORKFLOW),
    activity: await identities(types.TASK_QUEUE_TYPE_ACTIVITY),
  };
}

/** Throws until each of the workers (each given as the pids of its process group) polls both queues. */
export async function workersPolling(
  connection: Connection,
  namespace: string,
  taskQueue: string,
  pidSets: number[][],
  since: number,
): Promise<void> {
  const pollers = await recentPollers(connection, namespace, taskQueue, since);
  for (const identities of [pollers.workflow, pollers.activity]) {
    const missing = pidSets.filter(
      (pids) => !identities.some((id) => pids.some((pid) => id.startsWith(`${pid}@`))),
    );
    if (missing.length > 0) throw new Error(`${missing.length} of ${pidSets.length} workers not polling yet`);
  }
}
