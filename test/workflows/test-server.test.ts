/**
 * What the time-skipping test server (temporal-test-server, the SDK's TestWorkflowEnvironment) gets wrong, shown
 * with raw gRPC calls, next to a dev server that gets it right. Tests whose workflows cancel each other run on a dev
 * server because of it (the pipeline budget tests in ./budget.test.ts).
 *
 * A workflow task whose completion cancels a timer that fired while the task was in flight (its TimerFired event
 * still buffered) is rejected by the test server with INVALID_ARGUMENT "invalid history builder state for action",
 * and the task is then lost: no timeout, no new task, until the workflow's own execution timeout. Temporal's server
 * accepts the cancel and drops the buffered fire. A child canceled by its parent hits this whenever the cancel
 * lands just before the child's next poll timer: the child's completion cancels that timer (and its deadline timer)
 * and schedules the cancel activity. The test server makes that likely: it skips time while a cancel of another
 * workflow is in flight, up to the child's next timer. If the first test fails, the test server was fixed.
 */
import { randomUUID } from 'node:crypto';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devServer, timeSkippingServer } from './env';

const { CommandType, EventType } = temporal.api.enums.v1;

let timeSkipping: TestWorkflowEnvironment;
let dev: TestWorkflowEnvironment;
beforeAll(async () => {
  [timeSkipping, dev] = await Promise.all([timeSkippingServer(), devServer()]);
});
afterAll(async () => {
  await Promise.all([timeSkipping?.teardown(), dev?.teardown()]);
});

/**
 * Task 1 starts a 1 s timer; a signal schedules task 2; while task 2 is in flight the server's clock passes the
 * timer; task 2's completion cancels it. The answer to that completion, the history, and whether a new task comes.
 */
async function cancelTimerThatFiredDuringTheTask(env: TestWorkflowEnvironment) {
  const service = env.connection.workflowService;
  const namespace = env.namespace ?? 'default';
  const taskQueue = { name: `timer-race-${randomUUID()}` };
  const workflowId = `timer-race-${randomUUID()}`;
  const identity = 'test-server.test';
  const poll = (deadlineMs: number) =>
    env.connection.withDeadline(Date.now() + deadlineMs, () =>
      service.pollWorkflowTaskQueue({ namespace, taskQueue, identity }),
    );
  await service.startWorkflowExecution({
    namespace,
    workflowId,
    workflowType: { name: 'timerRace' },
    taskQueue,
    requestId: randomUUID(),
    identity,
    workflowExecutionTimeout: msToTs('1h'),
    workflowTaskTimeout: msToTs('4s'),
  });
  const task1 = await poll(30_000);
  await service.respondWorkflowTaskCompleted({
    namespace,
    taskToken: task1.taskToken,
    identity,
    commands: [
      {
        commandType: CommandType.COMMAND_TYPE_START_TIMER,
        startTimerCommandAttributes: { timerId: '1', startToFireTimeout: msToTs('1s') },
      },
    ],
  });
  await service.signalWorkflowExecution({
    namespace,
    workflowExecution: { workflowId },
    signalName: 'stop',
    identity,
    requestId: randomUUID(),
  });
  const task2 = await poll(30_000);
  // The server's clock passes the timer while task 2 is in flight (a task in flight stops the test server from
  // skipping time: both servers run in real time here), within the task's 4 s timeout.
  await env.sleep(2_000);
  const answer = await service
    .respondWorkflowTaskCompleted({
      namespace,
      taskToken: task2.taskToken,
      identity,
      commands: [
        {
          commandType: CommandType.COMMAND_TYPE_CANCEL_TIMER,
          cancelTimerCommandAttributes: { timerId: '1' },
        },
      ],
    })
    .then(
      () => 'accepted',
      (error: unknown) => String(error),
    );
  // Past the workflow task timeout (4 s): a task still in flight would have been timed out and scheduled again.
  if (answer !== 'accepted') await env.sleep(5_000);
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  const events = (history.events ?? []).map((e) => e.eventType);
  return { answer, events, lastEvent: events.at(-1) };
}

describe('a workflow task that cancels a timer which fired while the task was in flight', () => {
  it('time-skipping test server: rejected, and the task is lost (the workflow hangs until its execution timeout)', async () => {
    const { answer, lastEvent, events } = await cancelTimerThatFiredDuringTheTask(timeSkipping);
    expect(answer).toMatch(/INVALID_ARGUMENT: invalid history builder state for action/);
    // the task stays started forever: no WorkflowTaskTimedOut, no new task, and the timer's fire is gone too
    expect(lastEvent).toBe(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED);
    expect(events).not.toContain(EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT);
    expect(events).not.toContain(EventType.EVENT_TYPE_TIMER_FIRED);
  });

  it('dev server (Temporal server): accepted, the timer canceled, its buffered fire dropped', async () => {
    const { answer, events, lastEvent } = await cancelTimerThatFiredDuringTheTask(dev);
    expect(answer).toBe('accepted');
    expect(lastEvent).toBe(EventType.EVENT_TYPE_TIMER_CANCELED);
    expect(events).not.toContain(EventType.EVENT_TYPE_TIMER_FIRED);
  });
});
