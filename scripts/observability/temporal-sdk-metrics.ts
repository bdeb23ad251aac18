/**
 * The Temporal SDK's own metrics as its Prometheus exporter serves them (TS SDK 1.24, the worker's runtime options:
 * counters without a `_total` suffix, durations in milliseconds), with their label names: what the dashboard and
 * the alerts may use besides our contract metrics (test/observability-deploy.test.ts checks them against this).
 *
 * Obtained from a real scrape, not from documentation: `npx tsx scripts/observability/sdk-metrics.ts` runs a dev
 * server and a worker with the SDK's Prometheus exporter, probe workflows (activities, a local activity, a failed,
 * a canceled and a failing workflow task), and prints every `temporal_*` family; this table is its output, plus the
 * two families (marked) that `npm run -s observability:render` printed from its longer scrape (empty activity polls,
 * failed requests). A family seen in no scrape is left out on purpose: add one only after seeing it.
 */

export type SdkMetricType = 'counter' | 'gauge' | 'histogram';

export const TEMPORAL_SDK_METRICS: Readonly<
  Record<string, { type: SdkMetricType; labels: readonly string[] }>
> = {
  temporal_activity_execution_failed: {
    type: 'counter',
    labels: ['activity_type', 'failure_reason', 'namespace', 'service_name', 'task_queue', 'workflow_type'],
  },
  temporal_activity_execution_latency: {
    type: 'histogram',
    labels: ['activity_type', 'namespace', 'service_name', 'task_queue', 'workflow_type'],
  },
  // seen by observability:render (an activity poll that timed out empty)
  temporal_activity_poll_no_task: { type: 'counter', labels: ['namespace', 'service_name', 'task_queue'] },
  temporal_activity_schedule_to_start_latency: {
    type: 'histogram',
    labels: ['namespace', 'service_name', 'task_queue'],
  },
  temporal_activity_succeed_endtoend_latency: {
    type: 'histogram',
    labels: ['activity_type', 'namespace', 'service_name', 'task_queue', 'workflow_type'],
  },
  temporal_activity_task_received: {
    type: 'counter',
    labels: ['activity_type', 'eager', 'namespace', 'service_name', 'task_queue', 'workflow_type'],
  },
  temporal_local_activity_execution_latency: {
    type: 'histogram',
    labels: ['activity_type', 'namespace', 'service_name', 'task_queue', 'workflow_type'],
  },
  temporal_local_activity_succeed_endtoend_latency: {
    type: 'histogram',
    labels: ['activity_type', 'namespace', 'service_name', 'task_queue', 'workflow_type'],
  },
  temporal_local_activity_total: {
    type: 'counter',
    labels: ['activity_type', 'namespace', 'service_name', 'task_queue', 'workflow_type'],
  },
  temporal_long_request: {
    type: 'counter',
    labels: ['namespace', 'operation', 'service_name', 'task_queue'],
  },
  temporal_long_request_latency: {
    type: 'histogram',
    labels: ['namespace', 'operation', 'service_name', 'task_queue'],
  },
  temporal_num_pollers: { type: 'gauge', labels: ['namespace', 'poller_type', 'service_name', 'task_queue'] },
  temporal_request: { type: 'counter', labels: ['namespace', 'operation', 'service_name'] },
  // seen by observability:render (a failed call to the frontend, e.g. a poll cut by the worker's shutdown)
  temporal_request_failure: {
    type: 'counter',
    labels: ['namespace', 'operation', 'service_name', 'status_code'],
  },
  temporal_request_latency: { type: 'histogram', labels: ['namespace', 'operation', 'service_name'] },
  temporal_sticky_cache_hit: {
    type: 'counter',
    labels: ['namespace', 'service_name', 'task_queue', 'workflow_type'],
  },
  temporal_sticky_cache_size: { type: 'gauge', labels: ['namespace', 'service_name', 'task_queue'] },
  temporal_sticky_cache_total_forced_eviction: {
    type: 'counter',
    labels: ['namespace', 'service_name', 'task_queue'],
  },
  temporal_worker_start: { type: 'counter', labels: ['namespace', 'service_name', 'task_queue'] },
  temporal_worker_task_slots_available: {
    type: 'gauge',
    labels: ['namespace', 'service_name', 'task_queue', 'worker_type'],
  },
  temporal_worker_task_slots_used: {
    type: 'gauge',
    labels: ['namespace', 'service_name', 'task_queue', 'worker_type'],
  },
  temporal_workflow_canceled: {
    type: 'counter',
    labels: ['namespace', 'service_name', 'task_queue', 'workflow_type'],
  },
  temporal_workflow_completed: {
    type: 'counter',
    labels: ['namespace', 'service_name', 'task_queue', 'workflow_type'],
  },
  temporal_workflow_endtoend_latency: {
    type: 'histogram',
    labels: ['namespace', 'service_name', 'task_queue', 'workflow_type'],
  },
  temporal_workflow_failed: {
    type: 'counter',
    labels: ['namespace', 'service_name', 'task_queue', 'workflow_type'],
  },
  temporal_workflow_task_execution_failed: {
    type: 'counter',
    labels: ['failure_reason', 'namespace', 'service_name', 'task_queue', 'workflow_type'],
  },
  temporal_workflow_task_execution_latency: {
    type: 'histogram',
    labels: ['namespace', 'service_name', 'task_queue', 'workflow_type'],
  },
  temporal_workflow_task_queue_poll_succeed: {
    type: 'counter',
    labels: ['namespace', 'service_name', 'task_queue'],
  },
  temporal_workflow_task_replay_latency: {
    type: 'histogram',
    labels: ['namespace', 'service_name', 'task_queue', 'workflow_type'],
  },
  temporal_workflow_task_schedule_to_start_latency: {
    type: 'histogram',
    labels: ['namespace', 'service_name', 'task_queue'],
  },
};
