/**
 * Where the native cluster keeps its files and which ports it uses.
 *
 * CLUSTER_HOME (default `<repo>/.cluster`) holds the PostgreSQL data, the generated config, pid files and logs;
 * the binaries are cached in CLUSTER_BIN_DIR (default `<repo>/.cluster/bin`), shared by every CLUSTER_HOME.
 * CLUSTER_PORT (default 17233) is the frontend's gRPC port; every other port is derived from it, so two clusters
 * (say a developer's and a test's) run side by side with different CLUSTER_HOME and CLUSTER_PORT.
 */
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

export const TEMPORAL_VERSION = '1.32.0';
export const DEFAULT_FRONTEND_PORT = 17233;

export interface Ports {
  frontend: number;
  frontendHttp: number;
  history: number;
  matching: number;
  worker: number;
  membership: { frontend: number; history: number; matching: number; worker: number };
  postgres: number;
  webhooks: number;
  /** the codec server (with ENCRYPTION_KEY) */
  codec: number;
  ui: number;
}

export interface Layout {
  home: string;
  binDir: string;
  pgData: string;
  /** unix socket folder of PostgreSQL (owned by the postgres user when we run as root) */
  pgSocketDir: string;
  pgLog: string;
  configFile: string;
  dynamicConfigFile: string;
  runDir: string;
  logDir: string;
  ports: Ports;
  host: string;
}

export function portsFrom(frontend: number): Ports {
  return {
    frontend,
    history: frontend + 1,
    matching: frontend + 2,
    worker: frontend + 6,
    frontendHttp: frontend + 10,
    membership: {
      frontend: frontend + 100,
      history: frontend + 101,
      matching: frontend + 102,
      worker: frontend + 106,
    },
    postgres: frontend + 30,
    webhooks: frontend + 40,
    codec: frontend + 42,
    // the project's convention: the UI on the frontend port + 1000
    ui: frontend + 1000,
  };
}

export function layoutFrom(env: NodeJS.ProcessEnv = process.env): Layout {
  const home = path.resolve(env.CLUSTER_HOME?.trim() || path.join(REPO_ROOT, '.cluster'));
  const binDir = path.resolve(env.CLUSTER_BIN_DIR?.trim() || path.join(REPO_ROOT, '.cluster', 'bin'));
  const portText = env.CLUSTER_PORT?.trim();
  const frontend = portText ? Number(portText) : DEFAULT_FRONTEND_PORT;
  if (!Number.isInteger(frontend) || frontend < 1024 || frontend > 64_000) {
    throw new UsageError(`CLUSTER_PORT="${portText}" must be a port number between 1024 and 64000`);
  }
  return {
    home,
    binDir,
    pgData: path.join(home, 'pg', 'data'),
    pgSocketDir: path.join(home, 'pg', 'socket'),
    pgLog: path.join(home, 'logs', 'postgres.log'),
    configFile: path.join(home, 'config', 'temporal.yaml'),
    dynamicConfigFile: path.join(home, 'config', 'dynamicconfig.yaml'),
    runDir: path.join(home, 'run'),
    logDir: path.join(home, 'logs'),
    ports: portsFrom(frontend),
    host: '127.0.0.1',
  };
}

/** A problem the user fixes (exit 2), explained in one line. */
export class UsageError extends Error {
  override name = 'UsageError';
}
