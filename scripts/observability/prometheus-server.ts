/**
 * A real Prometheus for the render script: the Debian binary (`apt-get install -y prometheus`; PROMETHEUS_PATH
 * overrides /usr/bin/prometheus) run as a child on a free loopback port with a temporary data directory (the
 * Debian service is never started), scraping the given targets every second and evaluating our alert rules; its
 * HTTP API queried for ranges, instants and alerts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const PROMETHEUS_PATH = process.env.PROMETHEUS_PATH ?? '/usr/bin/prometheus';

export interface PrometheusServer {
  url: string;
  queryRange(expr: string, start: number, end: number, stepSeconds: number): Promise<RangeResult[]>;
  query(expr: string, time: number): Promise<InstantResult[]>;
  alerts(): Promise<Array<{ labels: Record<string, string>; state: string }>>;
  /** scraped target health, e.g. [{ instance, health: 'up' }] */
  targets(): Promise<Array<{ instance: string; health: string; lastError: string }>>;
  stop(): Promise<void>;
}

export interface RangeResult {
  metric: Record<string, string>;
  values: Array<[number, string]>;
}
export interface InstantResult {
  metric: Record<string, string>;
  value: [number, string];
}

export async function startPrometheus(options: {
  dir: string;
  port: number;
  targets: string[];
  ruleFiles: string[];
  scrapeIntervalSeconds: number;
}): Promise<PrometheusServer> {
  if (!existsSync(PROMETHEUS_PATH))
    throw new Error(
      `no Prometheus at ${PROMETHEUS_PATH}: apt-get install -y prometheus (the service stays stopped), or set PROMETHEUS_PATH`,
    );
  const config = path.join(options.dir, 'prometheus.yml');
  const every = `${options.scrapeIntervalSeconds}s`;
  writeFileSync(
    config,
    [
      'global:',
      `  scrape_interval: ${every}`,
      `  evaluation_interval: ${every}`,
      'rule_files:',
      ...options.ruleFiles.map((f) => `  - ${JSON.stringify(f)}`),
      'scrape_configs:',
      '  - job_name: replicate-worker',
      '    static_configs:',
      `      - targets: ${JSON.stringify(options.targets)}`,
      '',
    ].join('\n'),
  );
  const url = `http://127.0.0.1:${options.port}`;
  const child: ChildProcess = spawn(
    PROMETHEUS_PATH,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(options.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${options.port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited: ${stderr.trim()}`);
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`prometheus did not become ready on ${url}: ${stderr.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }

  async function api<T>(route: string, params: Record<string, string>): Promise<T> {
    const response = await fetch(`${url}/api/v1/${route}?${new URLSearchParams(params).toString()}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success')
      throw new Error(`prometheus ${route} ${JSON.stringify(params)}: ${body.error}`);
    return body.data;
  }

  return {
    url,
    queryRange: async (query, start, end, step) =>
      (
        await api<{ result: RangeResult[] }>('query_range', {
          query,
          start: String(start),
          end: String(end),
          step: String(step),
        })
      ).result,
    query: async (query, time) =>
      (await api<{ result: InstantResult[] }>('query', { query, time: String(time) })).result,
    alerts: async () =>
      (await api<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>('alerts', {})).alerts,
    targets: async () =>
      (
        await api<{
          activeTargets: Array<{ labels: { instance: string }; health: string; lastError: string }>;
        }>('targets', {})
      ).activeTargets.map((t) => ({ instance: t.labels.instance, health: t.health, lastError: t.lastError })),
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
