/**
 * `up`, `down` and `status` of the native cluster: PostgreSQL, the Temporal server (all four services in one
 * process, PostgreSQL for persistence and visibility), the Temporal UI, the webhook receiver and N workers; with
 * ENCRYPTION_KEY also the codec server, on loopback, which the UI is configured to decode through.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import path from 'node:path';
import { configTemplatePath, ensureBinaries, ensureUiBinary, type Binaries } from './binaries';
import { REPO_ROOT, UsageError, type Layout } from './layout';
import { ensureSchemas, findPgBin, initPostgres, postgresPid, startPostgres, stopPostgres } from './postgres';
import {
  groupMembers,
  isRunning,
  logFile,
  ourProcesses,
  readRecord,
  readRecords,
  startDetached,
  stopGroup,
  stopProcesses,
  type ProcessRecord,
} from './processes';
import { writeServerConfig } from './server-config';
import { connect, ensureNamespace, frontendServing, until, useClusterTls, workersPolling } from './temporal';
import { clientTls, clientTlsEnv, clusterTls, ensureCertificates, setTlsMode } from './tls';

export interface UpOptions {
  workers: number;
  ui: boolean;
  /** the frontend serves TLS with a self-signed CA (`--tls`, CLUSTER_TLS=1) */
  tls?: boolean;
}

type Log = (line: string) => void;

const NAMESPACE = 'default';

export function frontendAddress(layout: Layout): string {
  return `${layout.host}:${layout.ports.frontend}`;
}

/** The environment of workers and the receiver: ours, pointed at the cluster (REPLICATE_*, OUTPUT_* inherited). */
function appEnv(layout: Layout): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: frontendAddress(layout),
    TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE?.trim() || NAMESPACE,
  };
  // the receiver serves webhooks; N workers cannot share one WEBHOOK_PORT
  delete env.WEBHOOK_PORT;
  // how to reach this cluster is ours to say: no API key or TLS settings meant for another server
  for (const key of Object.keys(env)) {
    if (/^TEMPORAL_(TLS|API_KEY$|PROFILE$)/.test(key)) delete env[key];
  }
  const tls = clusterTls(layout);
  if (tls) Object.assign(env, clientTlsEnv(tls));
  return env;
}

function namespaceOf(): string {
  return process.env.TEMPORAL_NAMESPACE?.trim() || NAMESPACE;
}

function taskQueueOf(): string {
  return process.env.TEMPORAL_TASK_QUEUE?.trim() || 'replicate';
}

function portAnswers(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}

function stillRunning(layout: Layout, record: ProcessRecord): () => string | null {
  return () => {
    if (isRunning(layout, record)) return null;
    const file = logFile(layout, record.name);
    const tail = readFileSync(file, 'utf8').trim().split('\n').slice(-6).join('\n  ');
    return `${record.name} exited (log ${file}):\n  ${tail}`;
  };
}

/** ENCRYPTION_KEY is set: workers encrypt, and the codec server runs for the UI and the Temporal CLI. */
export function encrypted(): boolean {
  return Boolean(process.env.ENCRYPTION_KEY?.trim());
}

export async function up(layout: Layout, options: UpOptions, log: Log): Promise<string> {
  if (options.workers > 0 && !process.env.REPLICATE_API_TOKEN?.trim()) {
    throw new UsageError(
      'REPLICATE_API_TOKEN is not set: the workers and the webhook receiver need it (with REPLICATE_BASE_URL for the simulator), or use --workers 0',
    );
  }
  const started = Date.now();
  const pgBin = findPgBin();
  const binaries = await ensureBinaries(layout, log);
  const uiBinary = options.ui ? await ensureUiBinary(layout, log) : null;
  const tls = options.tls ? ensureCertificates(layout) : null;
  setTlsMode(layout, tls !== null);
  useClusterTls(clientTls(tls));
  writeServerConfig(configTemplatePath(log), layout, tls);
  if (tls) log(`TLS on the frontend: CA ${tls.caFile}, server name ${tls.serverName}`);

  if (initPostgres(layout, pgBin)) log(`PostgreSQL data folder created in ${layout.pgData}`);
  const pg = startPostgres(layout, pgBin);
  log(`PostgreSQL ${pg.started ? 'started' : 'already running'} on ${layout.host}:${layout.ports.postgres}`);
  ensureSchemas(layout, binaries.sql);

  const address = frontendAddress(layout);
  await startServer(layout, binaries, log);
  const connection = await connect(address);
  try {
    const namespace = namespaceOf();
    const ns = await ensureNamespace(connection, namespace);
    log(`namespace ${namespace} ${ns === 'created' ? 'registered' : 'ready'}, search attributes in place`);

    const codec = encrypted() ? await startCodec(layout, log) : null;
    if (uiBinary) await startUi(layout, uiBinary, codec, log);

    const wantReceiver = options.workers > 0 || Boolean(process.env.REPLICATE_API_TOKEN?.trim());
    if (wantReceiver) await startReceiver(layout, log);
    await startWorkers(layout, options.workers, connection, log);
  } finally {
    await connection.close();
  }
  log(`cluster up in ${((Date.now() - started) / 1000).toFixed(1)} s (logs in ${layout.logDir})`);
  return address;
}

export async function startServer(layout: Layout, binaries: Binaries, log: Log): Promise<void> {
  const address = frontendAddress(layout);
  let record = readRecord(layout, 'temporal-server');
  if (isRunning(layout, record)) {
    log(`Temporal server already running (pid ${record!.pid})`);
  } else {
    record = startDetached(layout, {
      name: 'temporal-server',
      command: binaries.server,
      args: ['--config-file', layout.configFile, '--allow-no-auth', 'start'],
      env: process.env,
      cwd: layout.home,
      detail: address,
    });
  }
  await until(
    'Temporal server serving',
    120_000,
    () => frontendServing(address),
    stillRunning(layout, record!),
  );
  log(
    `Temporal server (frontend, history, matching, worker) on ${address}, PostgreSQL persistence and visibility`,
  );
}

async function startUi(layout: Layout, binary: string, codec: string | null, log: Log): Promise<void> {
  const url = `http://${layout.host}:${layout.ports.ui}`;
  let record = readRecord(layout, 'temporal-ui');
  if (!isRunning(layout, record)) {
    const dir = path.join(layout.home, 'config', 'ui');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, 'base.yaml'),
      [
        '# Generated by scripts/cluster (rewritten by every `npm run cluster -- up`).',
        `temporalGrpcAddress: ${frontendAddress(layout)}`,
        `host: ${layout.host}`,
        `port: ${layout.ports.ui}`,
        'enableUi: true',
        `defaultNamespace: ${namespaceOf()}`,
        'disableNewsFetch: true',
        'notifyOnNewVersion: false',
        ...uiTls(layout),
        // ENCRYPTION_KEY: the browser asks the codec server (loopback, this machine only) to decrypt what it shows
        ...(codec ? ['codec:', `  endpoint: ${codec}`] : []),
        'cors:',
        '  cookieInsecure: true',
        '',
      ].join('\n'),
    );
    record = startDetached(layout, {
      name: 'temporal-ui',
      command: binary,
      args: ['--root', path.join(layout.home, 'config'), '--config', 'ui', '--env', 'cluster', 'start'],
      env: process.env,
      cwd: layout.home,
      detail: url,
    });
  }
  await until(
    'Temporal UI answering',
    30_000,
    async () => {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
    },
    stillRunning(layout, record!),
  );
  log(`Temporal UI on ${url}${codec ? `, decrypting through the codec server ${codec}` : ''}`);
}

function uiTls(layout: Layout): string[] {
  const tls = clusterTls(layout);
  return tls ? ['tls:', `  caFile: ${tls.caFile}`, `  serverName: ${tls.serverName}`] : [];
}

async function startReceiver(layout: Layout, log: Log): Promise<void> {
  let record = readRecord(layout, 'webhooks');
  if (!isRunning(layout, record)) {
    record = startDetached(layout, {
      name: 'webhooks',
      command: 'npm',
      args: ['run', '-s', 'webhooks'],
      env: { ...appEnv(layout), WEBHOOK_PORT: String(layout.ports.webhooks), WEBHOOK_HOST: layout.host },
      cwd: REPO_ROOT,
      detail: `http://${layout.host}:${layout.ports.webhooks}/webhooks/replicate`,
    });
  }
  await until(
    'webhook receiver listening',
    60_000,
    () => portAnswers(layout.host, layout.ports.webhooks),
    stillRunning(layout, record!),
  );
  log(`webhook receiver on ${record!.detail}`);
}

/** Where the codec server listens (loopback), and the origins of the UI it lets browsers call from. */
export function codecEnv(layout: Layout): NodeJS.ProcessEnv {
  const env = { ...appEnv(layout) };
  delete env.CODEC_AUTH_TOKEN; // loopback: the UI in this machine's browser cannot send a token
  return {
    ...env,
    CODEC_PORT: String(layout.ports.codec),
    CODEC_HOST: layout.host,
    CODEC_CORS_ORIGIN: [layout.host, 'localhost'].map((h) => `http://${h}:${layout.ports.ui}`).join(','),
  };
}

/** The codec server (`npm run codec-server`) with the workers' keys; resolves with its URL. */
async function startCodec(layout: Layout, log: Log): Promise<string> {
  const url = `http://${layout.host}:${layout.ports.codec}`;
  let record = readRecord(layout, 'codec-server');
  if (!isRunning(layout, record)) {
    record = startDetached(layout, {
      name: 'codec-server',
      command: 'npm',
      args: ['run', '-s', 'codec-server'],
      env: codecEnv(layout),
      cwd: REPO_ROOT,
      detail: url,
    });
  }
  await until(
    'codec server answering',
    60_000,
    async () => {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
    },
    stillRunning(layout, record!),
  );
  log(
    `codec server on ${url} (loopback only): Temporal CLI with --codec-endpoint ${url} (or TEMPORAL_CODEC_ENDPOINT)`,
  );
  return url;
}

/** The prebuilt bundle's file: with ENCRYPTION_KEY it holds the failure converter that encodes messages. */
export function bundleFile(layout: Layout): string {
  return path.join(layout.runDir, encrypted() ? 'workflow-bundle-encrypted.js' : 'workflow-bundle.js');
}

/** One prebuilt workflow bundle for all workers (webpack once instead of once per worker), unless WORKFLOW_BUNDLE. */
function workflowBundle(layout: Layout, log: Log): string {
  const given = process.env.WORKFLOW_BUNDLE?.trim();
  if (given) return given;
  const out = bundleFile(layout);
  mkdirSync(layout.runDir, { recursive: true });
  try {
    const args = ['run', '-s', 'build:workflows', '--', ...(encrypted() ? ['--encrypted'] : []), out];
    execFileSync('npm', args, { cwd: REPO_ROOT, stdio: 'pipe' });
  } catch (error) {
    const e = error as { stderr?: Buffer; message: string };
    throw new Error(`npm run build:workflows failed: ${e.stderr?.toString().trim() || e.message}`);
  }
  log(`workflow bundle built for the workers (${path.relative(REPO_ROOT, out)})`);
  return out;
}

async function startWorkers(
  layout: Layout,
  count: number,
  connection: Awaited<ReturnType<typeof connect>>,
  log: Log,
): Promise<void> {
  const since = Date.now();
  // workers beyond `count` from an earlier `up --workers M` are stopped
  for (const record of readRecords(layout).filter((r) => /^worker-\d+$/.test(r.name))) {
    if (Number(record.name.slice('worker-'.length)) > count) await stopGroup(layout, record);
  }
  if (count === 0) return;
  const missing = Array.from({ length: count }, (_, i) => `worker-${i + 1}`).filter(
    (name) => !isRunning(layout, readRecord(layout, name)),
  );
  if (missing.length > 0) {
    const bundle = workflowBundle(layout, log);
    for (const name of missing) startWorker(layout, name, bundle);
  }
  const records = Array.from({ length: count }, (_, i) => readRecord(layout, `worker-${i + 1}`)!);
  await until(
    `${count} workers polling task queue ${taskQueueOf()}`,
    180_000,
    () =>
      workersPolling(
        connection,
        namespaceOf(),
        taskQueueOf(),
        records.map((r) => groupMembers(r.pid)),
        since - 60 * 60_000, // a worker kept from an earlier `up` polls too
      ),
    () => records.map(stillRunning.bind(null, layout)).reduce<string | null>((a, f) => a ?? f(), null),
  );
  log(`${count} worker${count === 1 ? '' : 's'} polling task queue ${taskQueueOf()}`);
}

/** Starts (or restarts) one worker process: `npm run worker` with the cluster's environment. */
export function startWorker(layout: Layout, name: string, bundle: string): ProcessRecord {
  return startDetached(layout, {
    name,
    command: 'npm',
    args: ['run', '-s', 'worker'],
    env: { ...appEnv(layout), WORKFLOW_BUNDLE: bundle },
    cwd: REPO_ROOT,
    detail: `task queue ${taskQueueOf()}`,
  });
}

/**
 * Restarts one component alone, the others left running (the fleet test's faults): the Temporal server process
 * (SIGTERM, or SIGKILL with `kill`), PostgreSQL (`pg_ctl stop -m fast`, or `immediate`: a crash) or a worker
 * `worker-N` (SIGTERM to drain, or SIGKILL) replaced by a new process. Resolves once it serves (polls) again.
 */
export async function restart(layout: Layout, name: string, kill: boolean, log: Log): Promise<void> {
  const signal = kill ? 'SIGKILL' : 'SIGTERM';
  if (name === 'postgres') {
    const pgBin = findPgBin();
    stopPostgres(layout, pgBin, kill ? 'immediate' : 'fast');
    const pg = startPostgres(layout, pgBin);
    log(`PostgreSQL restarted (${kill ? 'immediate' : 'fast'} stop; pid ${pg.pid})`);
    return;
  }
  if (name === 'temporal-server' || name === 'server') {
    const server = readRecord(layout, 'temporal-server');
    if (server) await stopGroup(layout, server, { signal });
    await startServer(layout, await ensureBinaries(layout, log), log);
    log(`Temporal server restarted (${signal})`);
    return;
  }
  if (!/^worker-\d+$/.test(name))
    throw new UsageError(`restart takes postgres, server or worker-N, got ${name}`);
  const record = readRecord(layout, name);
  if (record) await stopGroup(layout, record, { signal });
  const since = Date.now();
  const bundle = process.env.WORKFLOW_BUNDLE?.trim() || bundleFile(layout);
  const started = startWorker(layout, name, bundle);
  const connection = await until('Temporal server answering', 60_000, () => connect(frontendAddress(layout)));
  try {
    await until(
      `${name} polling task queue ${taskQueueOf()}`,
      180_000,
      () => workersPolling(connection, namespaceOf(), taskQueueOf(), [groupMembers(started.pid)], since),
      stillRunning(layout, started),
    );
  } finally {
    await connection.close();
  }
  log(`${name} replaced after ${signal} (pid ${started.pid}), polling`);
}

/** Stops everything this cluster started: workers, receiver and UI, then the server, then PostgreSQL. */
export async function down(layout: Layout, log: Log): Promise<void> {
  const records = readRecords(layout);
  const order = (r: ProcessRecord): number => (r.name === 'temporal-server' ? 1 : 0);
  let stopped = 0;
  for (const phase of [0, 1]) {
    await Promise.all(
      records
        .filter((r) => order(r) === phase)
        .map(async (record) => {
          if (await stopGroup(layout, record)) {
            stopped++;
            log(`stopped ${record.name} (pid ${record.pid})`);
          }
        }),
    );
  }
  if (existsSync(path.join(layout.pgData, 'PG_VERSION')) && postgresPid(layout)) {
    stopPostgres(layout, findPgBin());
    stopped++;
    log('stopped PostgreSQL');
  }
  // anything else that still carries our mark (the node process of a worker whose npm parent was killed, say)
  const leftovers = ourProcesses(layout);
  if (await stopProcesses(layout, () => ourProcesses(layout))) {
    stopped++;
    log(
      `stopped ${leftovers.length} leftover process${leftovers.length === 1 ? '' : 'es'} (${leftovers.join(', ')})`,
    );
  }
  log(stopped === 0 ? 'nothing was running' : 'cluster stopped (data kept; `up` reuses it)');
}

export interface StatusLine {
  name: string;
  pid: number | null;
  running: boolean;
  detail: string;
}

export async function status(layout: Layout): Promise<{ lines: StatusLine[]; serving: boolean }> {
  const lines: StatusLine[] = [];
  const pg = postgresPid(layout);
  lines.push({
    name: 'postgres',
    pid: pg,
    running: pg !== null,
    detail: `${layout.host}:${layout.ports.postgres}, data ${layout.pgData}`,
  });
  for (const record of readRecords(layout)) {
    lines.push({
      name: record.name,
      pid: record.pid,
      running: isRunning(layout, record),
      detail: record.detail ?? '',
    });
  }
  const serving = await frontendServing(frontendAddress(layout)).then(
    () => true,
    () => false,
  );
  return { lines, serving };
}
