/**
 * Workflows for scripts/observability/sdk-metrics.ts only: one that completes (a timer, a local activity, an
 * activity), the same with an activity failing once, one that fails, one that waits to be canceled, and one whose
 * workflow task fails (so the SDK counts a workflow task failure).
 */
import {
  ApplicationFailure,
  condition,
  proxyActivities,
  proxyLocalActivities,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';

const { probeActivity } = proxyActivities<{ probeActivity(failFirst: boolean): Promise<string> }>({
  startToCloseTimeout: '10s',
  retry: { initialInterval: '100ms', maximumAttempts: 3 },
});

const local = proxyLocalActivities<{ probeActivity(failFirst: boolean): Promise<string> }>({
  startToCloseTimeout: '10s',
  retry: { initialInterval: '100ms', maximumAttempts: 3 },
});

/** A timer, a local activity (as our status polls are) and an activity. */
export async function probeOk(failFirst: boolean): Promise<string> {
  await sleep(50);
  await local.probeActivity(false);
  return probeActivity(failFirst);
}

/** Fails its workflow task on the first attempt (a plain Error, not a Temporal failure), then completes. */
export async function probeTaskFailure(): Promise<string> {
  if (workflowInfo().attempt === 1) throw new TypeError('probe: a bug in workflow code');
  return 'ok';
}

export async function probeFail(): Promise<void> {
  throw ApplicationFailure.nonRetryable('probe: the workflow fails');
}

export async function probeWaitForCancel(): Promise<void> {
  await condition(() => false);
}
