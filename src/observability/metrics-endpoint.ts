/**
 * Installing the SDK runtime with the Prometheus endpoint on (METRICS_PORT): the worker and the standalone webhook
 * receiver call this once, before any connection. With an endpoint, the process meter (./process-meter.ts) becomes
 * the runtime's, so what is recorded outside workflows and activities is served too.
 *
 * METRICS_PORT is served by our own server (src/http/server.ts: a connection cap, idle and slow-request timeouts),
 * which forwards `GET /metrics` to the SDK's exporter. The exporter itself has no such limits (it runs in the
 * process, so its sockets count against the worker's file descriptors): it listens on a free port of 127.0.0.1,
 * reachable only from this machine (this container's network namespace), never on METRICS_HOST.
 */
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import type { MetricMeter } from '@temporalio/common';
import { Runtime, type RuntimeOptions } from '@temporalio/worker';
import { ConfigError } from '../config';
import { startHttpServer, type RunningHttpServer } from '../http/server';
import { withPrometheus } from './metrics';
import { ModelLabels, withBoundedModelLabels } from './model-labels';
import { setProcessMeter } from './process-meter';

/** How long one scrape may take the exporter to answer. */
const EXPORTER_TIMEOUT_MS = 10_000;

export interface MetricsEndpoint {
  /** METRICS_PORT */
  port: number;
  /** the SDK exporter's own port, on 127.0.0.1 */
  exporterPort: number;
  stop(): Promise<void>;
}

/**
 * Install the runtime; with `endpoint`, serve /metrics there. `namedModels` (METRICS_MODELS,
 * REPLICATE_MODEL_CONCURRENCY's models) always keep their name in the `model` label; other models once one of
 * their runs succeeded here (./model-labels.ts).
 */
export async function installRuntime(
  options: RuntimeOptions,
  endpoint?: { port: number; host: string },
  namedModels: string[] = [],
): Promise<MetricsEndpoint | undefined> {
  if (!endpoint) {
    Runtime.install(options);
    return undefined;
  }
  const exporterPort = await freeLoopbackPort();
  let server: RunningHttpServer;
  try {
    server = await startHttpServer(forwardToExporter(exporterPort), endpoint);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const reason = e.code === 'EADDRINUSE' ? 'address already in use' : e.message;
    throw new ConfigError(
      `METRICS_PORT=${endpoint.port}: cannot serve /metrics on ${endpoint.host}:${endpoint.port} (${reason}); choose a free port or unset METRICS_PORT`,
    );
  }
  try {
    Runtime.install(withPrometheus(options, { host: '127.0.0.1', port: exporterPort }));
  } catch (error) {
    await server.stop();
    throw error;
  }
  const runtime = Runtime.instance();
  // Workers record through the runtime's meter, the workflows' metrics included (the SDK's metrics sink uses it):
  // wrapping it here bounds every `model` label of this process. The SDK offers no hook to map label values, and a
  // sink of our own would fail with "unregistered external sink" in workers that embed our workflows.
  (runtime as { metricMeter: MetricMeter }).metricMeter = withBoundedModelLabels(
    runtime.metricMeter,
    new ModelLabels(namedModels),
  );
  setProcessMeter(runtime.metricMeter);
  return { port: server.port, exporterPort, stop: server.stop };
}

/** GET (or HEAD) /metrics, answered with the exporter's answer; anything else 404 or 405. */
function forwardToExporter(exporterPort: number): Parameters<typeof startHttpServer>[0] {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics')
      return void res.writeHead(404, { 'content-type': 'text/plain' }).end('GET /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return void res.writeHead(405, { allow: 'GET', 'content-type': 'text/plain' }).end('use GET\n');
    const upstream = request(
      {
        host: '127.0.0.1',
        port: exporterPort,
        path: '/metrics',
        method: req.method,
        timeout: EXPORTER_TIMEOUT_MS,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, {
          'content-type': answer.headers['content-type'] ?? 'text/plain; version=0.0.4',
          'cache-control': 'no-store',
        });
        answer.pipe(res);
      },
    );
    upstream.on('timeout', () => upstream.destroy(new Error('the exporter did not answer in time')));
    upstream.on('error', (error) => {
      if (res.headersSent) return void res.destroy();
      res.writeHead(503, { 'content-type': 'text/plain' }).end(`metrics unavailable: ${error.message}\n`);
    });
    res.on('close', () => upstream.destroy());
    upstream.end();
  };
}

/** A port free on 127.0.0.1 right now, for the exporter (which cannot pick one itself and say which). */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
