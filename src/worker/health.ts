/**
 * The worker's liveness and readiness endpoints (HEALTH_PORT; for Kubernetes probes and compose health checks):
 * `GET /healthz` answers 200 while the process serves HTTP at all; `GET /readyz` answers 200 only while the worker
 * is RUNNING with both pollers polling, 503 while it starts (connecting, bundling), drains after SIGTERM or has
 * stopped. Both bodies are JSON with the worker's state.
 */
import type { WorkerStatus } from '@temporalio/worker';
import { startHttpServer } from '../http/server';

/** What the endpoints report: the Worker's status once it exists, else the phase of start-up. */
export type HealthSource = () => { state: string; status?: WorkerStatus };

export interface HealthServer {
  /** the port it listens on (HEALTH_PORT=0 takes a free one) */
  port: number;
  stop(): Promise<void>;
}

export interface HealthReport {
  ready: boolean;
  state: string;
  workflowPoller?: string;
  activityPoller?: string;
  inFlightActivities?: number;
  inFlightWorkflowActivations?: number;
}

/** Readiness: RUNNING, and neither poller has given up. */
export function healthReport(source: HealthSource): HealthReport {
  const { state, status } = source();
  if (!status) return { ready: false, state };
  return {
    ready:
      status.runState === 'RUNNING' &&
      status.workflowPollerState === 'POLLING' &&
      status.activityPollerState === 'POLLING',
    state: status.runState,
    workflowPoller: status.workflowPollerState,
    activityPoller: status.activityPollerState,
    inFlightActivities: status.numInFlightActivities,
    inFlightWorkflowActivations: status.numInFlightWorkflowActivations,
  };
}

/** The endpoints on `host:port` (HEALTH_HOST, default 127.0.0.1), with the limits of src/http/server.ts. */
export async function startHealthServer(options: {
  port: number;
  host: string;
  source: HealthSource;
}): Promise<HealthServer> {
  const running = await startHttpServer(
    (request, response) => {
      const path = (request.url ?? '/').split('?')[0];
      const send = (code: number, body: unknown): void => {
        response.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        response.end(request.method === 'HEAD' ? undefined : `${JSON.stringify(body)}\n`);
      };
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        send(405, { error: 'use GET' });
      } else if (path === '/healthz') {
        send(200, { alive: true, state: healthReport(options.source).state });
      } else if (path === '/readyz') {
        const report = healthReport(options.source);
        send(report.ready ? 200 : 503, report);
      } else {
        send(404, { error: 'not found: GET /healthz or /readyz' });
      }
    },
    // probes open a connection per check; none should hold up the exit
    { port: options.port, host: options.host, keepAliveTimeoutMs: 1_000 },
  );
  return { port: running.port, stop: running.stop };
}
