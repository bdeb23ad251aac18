/**
 * Namespace setup: the search attributes the workflows upsert must be registered, and the orphan reconciler runs
 * on a Schedule.
 */
import { ScheduleAlreadyRunning, type Client, type ConnectionLike } from '@temporalio/client';
import { msToNumber } from '@temporalio/common/lib/time';
import { SearchAttributeType } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../shared/search-attributes';

const GRPC_ALREADY_EXISTS = 6;

const INDEXED_VALUE_TYPE: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  [SearchAttributeType.KEYWORD]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  [SearchAttributeType.TEXT]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
};

/** `--search-attribute` flags for `temporal server start-dev`. */
export function devServerSearchAttributeFlags(): string[] {
  return SEARCH_ATTRIBUTES.flatMap((key) => [
    '--search-attribute',
    `${key.name}=${key.type === SearchAttributeType.KEYWORD ? 'Keyword' : 'Text'}`,
  ]);
}

/**
 * Register any missing search attribute on `namespace` (idempotent). Throws with a one-line fix when the server
 * refuses (e.g. no operator permission): without them every workflow task that upserts would fail.
 * Takes a worker's NativeConnection or a client's Connection: the worker and the CLI both call it.
 */
export async function ensureSearchAttributes(
  connection: Pick<ConnectionLike, 'operatorService'>,
  namespace: string,
): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set([
    ...Object.keys(existing.customAttributes ?? {}),
    ...Object.keys(existing.systemAttributes ?? {}),
  ]);
  const missing = SEARCH_ATTRIBUTES.filter((key) => !known.has(key.name));
  if (missing.length === 0) return [];
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((key) => [key.name, INDEXED_VALUE_TYPE[key.type]!])),
    });
  } catch (error) {
    if ((error as { code?: number }).code === GRPC_ALREADY_EXISTS) return []; // another worker won the race
    const names = missing.map((k) => `${k.name}=Keyword`).join(', ');
    throw new Error(
      `cannot register search attributes ${names} on namespace ${namespace} (${(error as Error).message}); create them with \`temporal operator search-attribute create --namespace ${namespace} --name <NAME> --type Keyword\``,
    );
  }
  return missing.map((k) => k.name);
}

/** The orphan reconciler's Schedule: one per namespace, kept by every worker (and `reconcile --schedule`). */
export const RECONCILE_SCHEDULE_ID = 'replicate-reconciler';

export interface ReconcilerScheduleOptions {
  taskQueue: string;
  everyMs: number;
  /** passed to reconcileOrphans (defaults: apply, 60 min, 120 s) */
  apply?: boolean;
  lookbackMinutes?: number;
  graceSeconds?: number;
}

/**
 * Make sure the `replicate-reconciler` Schedule exists and runs reconcileOrphans (in apply mode unless told
 * otherwise) every `everyMs` on `taskQueue` (idempotent: workers racing at start are fine). Returns what it did.
 */
export async function ensureReconcilerSchedule(
  client: Client,
  options: ReconcilerScheduleOptions,
): Promise<'created' | 'updated' | 'unchanged'> {
  const args = [
    {
      apply: options.apply ?? true,
      lookbackMinutes: options.lookbackMinutes ?? 60,
      graceSeconds: options.graceSeconds ?? 120,
    },
  ];
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'reconcileOrphans',
    taskQueue: options.taskQueue,
    args,
    workflowExecutionTimeout: '10m',
  };
  const spec = { intervals: [{ every: options.everyMs }] };
  try {
    await client.schedule.create({
      scheduleId: RECONCILE_SCHEDULE_ID,
      spec,
      action,
      policies: { overlap: 'SKIP' },
    });
    return 'created';
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
  const handle = client.schedule.getHandle(RECONCILE_SCHEDULE_ID);
  const current = await handle.describe();
  const same =
    current.spec.intervals?.length === 1 &&
    msOf(current.spec.intervals[0]!.every) === options.everyMs &&
    current.action.type === 'startWorkflow' &&
    current.action.workflowType === action.workflowType &&
    current.action.taskQueue === action.taskQueue &&
    JSON.stringify(current.action.args) === JSON.stringify(args);
  if (same) return 'unchanged';
  await handle.update((previous) => ({ ...previous, spec, action }));
  return 'updated';
}

function msOf(duration: string | number): number {
  return typeof duration === 'number' ? duration : msToNumber(duration);
}
