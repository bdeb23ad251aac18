// The workflow of scripts/repro/local-activity-panic.ts: one local activity, retried once.
import { proxyLocalActivities } from '@temporalio/workflow';

type Activities = { flaky(): Promise<string> };
const retry = { initialInterval: '200ms', maximumAttempts: 3 };
const withStartToClose = proxyLocalActivities<Activities>({
  startToCloseTimeout: '6s',
  scheduleToCloseTimeout: '60s',
  retry,
});
const withoutStartToClose = proxyLocalActivities<Activities>({ scheduleToCloseTimeout: '60s', retry });

export async function localActivityRetriedOnce(startToClose: boolean): Promise<string> {
  return (startToClose ? withStartToClose : withoutStartToClose).flaky();
}
