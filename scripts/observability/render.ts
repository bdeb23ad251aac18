/**
 * `npm run -s observability:render [-- --minutes N] [--out FILE]`: the picture of the Grafana dashboard in docs/observability.md,
 * drawn from a real Prometheus scrape. Grafana does not install here (no Debian package, nothing on the package
 * registries), so this renders the dashboard's own panels and queries instead of Grafana's UI.
 *
 * Starts a headless Temporal dev server, the Replicate simulator, two worker processes (`src/worker/main.ts` with
 * METRICS_PORT: one with webhooks and its receiver, one polling), and Prometheus (the Debian binary, scraping both
 * every second and evaluating deploy/prometheus/alerts.yml); runs the scripted load of ./load.ts for N minutes
 * (default 4); then runs every query of deploy/grafana/dashboards/replicate-temporal.json over the Prometheus HTTP
 * API ($__rate_interval = 30 s, $__range = the whole run), draws the panels into an HTML page (./chart.ts) and
 * screenshots it with Debian's Chromium into docs/observability-dashboard.png. Also compares the workers' scrape
 * with the contract and the temporal_* list (./temporal-sdk-metrics.ts) and prints the differences.
 * Needs: apt-get install -y prometheus chromium (and pngquant, for a smaller PNG). Not part of `npm test`.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { ReplicateSimulator } from '../../simulator';
import { freePort, startDevServer } from '../../src/dev/dev-server';
import { METRIC_DEFINITIONS } from '../../src/observability/metrics';
import { launchChromium } from '../../test/helpers/browser';
import { dashboardPage, type RenderedPanel } from './chart';
import { parseExposition } from './exposition';
import { runLoad, setUpModels } from './load';
import { startPrometheus, type PrometheusServer } from './prometheus-server';
import { TEMPORAL_SDK_METRICS } from './temporal-sdk-metrics';

const ROOT = path.join(__dirname, '..', '..');
const DASHBOARD = path.join(ROOT, 'deploy/grafana/dashboards/replicate-temporal.json');
const RATE_INTERVAL = '30s';

interface GrafanaPanel {
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  fieldConfig?: { defaults?: { unit?: string; max?: number } };
  targets?: Array<{ expr: string; legendFormat?: string }>;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const log = (line: string) => console.log(`[render] ${line}`);

const USAGE = `usage: npm run -s observability:render [-- --minutes N] [--out FILE] [--keep-dir]
Draws the Grafana dashboard's panels from a real Prometheus scrape into FILE (default
docs/observability-dashboard.png): a dev server, the simulator, two workers and Prometheus under a scripted load of
N minutes (default 4). Needs: apt-get install -y prometheus chromium (pngquant optional). --keep-dir keeps the
work folder.`;

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(USAGE);
    return;
  }
  const minutes = Number(argValue('--minutes') ?? 4);
  const out = path.resolve(argValue('--out') ?? path.join(ROOT, 'docs/observability-dashboard.png'));
  const dir = mkdtempSync(path.join(tmpdir(), 'replicate-observability-'));
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    // 1. Temporal, the simulator and the workflow bundle both workers load
    const server = await startDevServer({ port: await freePort(), uiPort: null });
    cleanups.push(() => server.stop());
    const sim = new ReplicateSimulator({ token: 'sim-observability-token', seed: 12 });
    setUpModels(sim);
    const baseUrl = await sim.start();
    cleanups.push(() => sim.stop());
    const bundle = path.join(dir, 'workflow-bundle.js');
    execFileSync(path.join(ROOT, 'node_modules/.bin/tsx'), ['scripts/build-workflow-bundle.ts', bundle], {
      cwd: ROOT,
      stdio: 'ignore',
    });

    // 2. Two workers with METRICS_PORT: one with webhooks (its receiver in-process), one polling
    const metricsPorts = [await freePort(), await freePort()];
    const webhookPort = await freePort();
    const queues: [string, string] = ['obs-webhooks', 'obs-polling'];
    const common = {
      ...process.env,
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_NAMESPACE: 'default',
      REPLICATE_API_TOKEN: 'sim-observability-token',
      REPLICATE_BASE_URL: baseUrl,
      OUTPUT_DIR: path.join(dir, 'outputs'),
      WORKFLOW_BUNDLE: bundle,
      RECONCILE_EVERY: 'off', // the load runs the reconciler itself
      METRICS_HOST: '127.0.0.1',
      // unencrypted like the load's client (and the plain bundle above), whatever the shell's ENCRYPTION_KEY
      ENCRYPTION_KEY: '',
      ENCRYPTION_KEYS_OLD: '',
    };
    const workers = [
      startWorker(dir, 'webhooks', {
        ...common,
        TEMPORAL_TASK_QUEUE: queues[0],
        METRICS_PORT: String(metricsPorts[0]),
        WEBHOOK_BASE_URL: `http://127.0.0.1:${webhookPort}`,
        WEBHOOK_PORT: String(webhookPort),
        WEBHOOK_HOST: '127.0.0.1',
      }),
      startWorker(dir, 'polling', {
        ...common,
        TEMPORAL_TASK_QUEUE: queues[1],
        METRICS_PORT: String(metricsPorts[1]),
      }),
    ];
    cleanups.push(() => Promise.all(workers.map((w) => w.stop())));
    await Promise.all(workers.map((w) => w.ready));
    log(`workers up, /metrics on ${metricsPorts.join(' and ')}`);

    // 3. Prometheus scraping both every second, with our alert rules
    const prometheus = await startPrometheus({
      dir,
      port: await freePort(),
      targets: metricsPorts.map((p) => `127.0.0.1:${p}`),
      ruleFiles: [path.join(ROOT, 'deploy/prometheus/alerts.yml')],
      scrapeIntervalSeconds: 1,
    });
    cleanups.push(() => prometheus.stop());
    log(`prometheus on ${prometheus.url}`);

    // 4. The load
    const connection = await Connection.connect({ address: server.address });
    cleanups.push(() => connection.close());
    const client = new Client({ connection });
    const from = Math.floor(Date.now() / 1000) - 10;
    const report = await runLoad({
      client,
      sim,
      taskQueues: queues,
      webhookUrl: `http://127.0.0.1:${webhookPort}/webhooks/replicate`,
      seconds: minutes * 60,
      log,
    });
    log(`load done: ${JSON.stringify(report)}; letting the last runs finish and be scraped`);
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    const to = Math.floor(Date.now() / 1000);

    // 5. The scrape against what the deploy files assume
    for (const port of metricsPorts)
      compareScrape(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), port);
    const targets = await prometheus.targets();
    log(
      `targets: ${targets.map((t) => `${t.instance} ${t.health}${t.lastError ? ` (${t.lastError})` : ''}`).join(', ')}`,
    );

    // 6. Every panel's queries, drawn, then the screenshot
    const panels = await queryPanels(prometheus, from, to);
    const alerts = await prometheus.alerts();
    const alertLine =
      alerts.length === 0
        ? 'no alert pending or firing'
        : alerts
            .map((a) => `${a.labels.alertname}${a.labels.model ? ` (${a.labels.model})` : ''}: ${a.state}`)
            .join(', ');
    const html = dashboardPage({
      title: 'Replicate on Temporal (deploy/grafana/dashboards/replicate-temporal.json)',
      subtitle: `${new Date(from * 1000).toISOString().slice(0, 16)}Z to ${new Date(to * 1000).toISOString().slice(11, 16)}Z, ${report.started} runs by scripts/observability/render.ts against the simulator; two workers scraped every second by Prometheus ${prometheusVersion()}; every panel's PromQL as in the dashboard ($__rate_interval = ${RATE_INTERVAL})`,
      panels,
      from,
      to,
      footer: `Alerts (deploy/prometheus/alerts.yml, evaluated by the same Prometheus; most need 5-15 minutes of a condition before they fire): ${alertLine}`,
    });
    const page = path.join(dir, 'dashboard.html');
    writeFileSync(page, html);
    await screenshot(page, out);
    quantize(out);
    log(
      `wrote ${path.relative(ROOT, out)} (${(statSync(out).size / 1024).toFixed(0)} KiB); alerts: ${alertLine}`,
    );
  } finally {
    for (const cleanup of cleanups.reverse())
      await cleanup().catch((e: unknown) => log(`cleanup: ${String(e)}`));
    if (process.argv.includes('--keep-dir')) log(`files in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

function startWorker(
  dir: string,
  name: string,
  env: NodeJS.ProcessEnv,
): { ready: Promise<void>; stop(): Promise<void> } {
  const logFile = createWriteStream(path.join(dir, `worker-${name}.log`));
  const child: ChildProcess = spawn(path.join(ROOT, 'node_modules/.bin/tsx'), ['src/worker/main.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      logFile.write(chunk);
      output = (output + chunk.toString()).slice(-4000);
      if (/worker polling task queue/.test(output)) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`worker ${name} exited (${code}): ${output.trim()}`)));
    setTimeout(() => reject(new Error(`worker ${name} did not start in 90 s: ${output.trim()}`)), 90_000);
  });
  return {
    ready,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
      logFile.end();
    },
  };
}

/** The scrape's families against the contract and the temporal_* list: differences are printed, not fatal. */
function compareScrape(text: string, port: number): void {
  const families = parseExposition(text);
  for (const family of families) {
    const contract = (METRIC_DEFINITIONS as Record<string, { labels: readonly string[] }>)[family.name];
    const sdk = TEMPORAL_SDK_METRICS[family.name];
    if (contract) {
      const missing = contract.labels.filter((l) => !family.labels.has(l));
      log(
        `:${port} ${family.name} ${family.type} labels ${[...family.labels].sort().join(',')}${missing.length ? ` MISSING ${missing.join(',')}` : ''}`,
      );
    } else if (family.name.startsWith('temporal_')) {
      if (!sdk)
        log(
          `:${port} ${family.name} (${family.type}, labels ${[...family.labels].sort().join(',')}) is not in temporal-sdk-metrics.ts`,
        );
      else if (sdk.type !== family.type || !sdk.labels.every((l) => family.labels.has(l)))
        log(`:${port} ${family.name} differs: ${family.type} ${[...family.labels].sort().join(',')}`);
    }
  }
}

async function queryPanels(prometheus: PrometheusServer, from: number, to: number): Promise<RenderedPanel[]> {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: GrafanaPanel[] };
  const range = `${to - from}s`;
  const expand = (expr: string) =>
    expr
      .replace(/\$__rate_interval/g, RATE_INTERVAL)
      .replace(/\$__range/g, range)
      .replace(/\$model/g, '.*');
  const legend = (format: string, metric: Record<string, string>) =>
    format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, label: string) => metric[label] ?? '');
  const panels: RenderedPanel[] = [];
  for (const panel of dashboard.panels) {
    const rendered: RenderedPanel = {
      title: panel.title,
      type: panel.type === 'row' ? 'row' : panel.type === 'stat' ? 'stat' : 'timeseries',
      unit: panel.fieldConfig?.defaults?.unit ?? 'short',
      max: panel.fieldConfig?.defaults?.max,
      gridPos: panel.gridPos,
      series: [],
    };
    for (const target of panel.targets ?? []) {
      const expr = expand(target.expr);
      if (rendered.type === 'stat') {
        for (const r of await prometheus.query(expr, to))
          rendered.series.push({
            name: legend(target.legendFormat ?? '', r.metric),
            points: [[to, Number(r.value[1])]],
          });
      } else {
        for (const r of await prometheus.queryRange(expr, from, to, 2))
          rendered.series.push({
            name: legend(target.legendFormat ?? '', r.metric),
            points: r.values.map(([t, v]) => [t, Number(v)]),
          });
      }
    }
    rendered.series.sort((a, b) => a.name.localeCompare(b.name));
    panels.push(rendered);
  }
  return panels;
}

function prometheusVersion(): string {
  const text = execFileSync(process.env.PROMETHEUS_PATH ?? '/usr/bin/prometheus', ['--version'], {
    encoding: 'utf8',
  });
  return /version (\S+)/.exec(text)?.[1] ?? '';
}

/**
 * Lines and text on a flat background need few colours: Debian's pngquant (apt-get install -y pngquant) makes the
 * PNG a palette image about a third of the size with no visible change (the docs' images stay small).
 */
function quantize(file: string): void {
  const pngquant = '/usr/bin/pngquant';
  if (!existsSync(pngquant)) {
    log(
      `no ${pngquant}: the PNG stays full colour (apt-get install -y pngquant makes it about 3 times smaller)`,
    );
    return;
  }
  execFileSync(pngquant, ['--quality=70-95', '--speed', '1', '--force', '--output', file, file]);
}

async function screenshot(page: string, out: string): Promise<void> {
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({
      viewport: { width: 1416, height: 800 },
      deviceScaleFactor: 1,
    });
    const tab = await context.newPage();
    await tab.goto(`file://${page}`);
    await tab.screenshot({ path: out, fullPage: true });
  } finally {
    await browser.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`[render] ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
