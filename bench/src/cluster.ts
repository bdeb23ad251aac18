/**
 * `scale --server cluster`: the native cluster of scripts/cluster (PostgreSQL persistence and visibility, the
 * Temporal server v1.32 with its four services in one process) in a folder and on ports of its own, no workers,
 * no UI; the bench spawns its own workers against it. Its server CPU and memory are the temporal-server process
 * AND every PostgreSQL process (the postmaster and its backends).
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { down, up } from '../../scripts/cluster/cluster';
import { layoutFrom, portsFrom } from '../../scripts/cluster/layout';
import { postgresPid } from '../../scripts/cluster/postgres';
import { readRecord } from '../../scripts/cluster/processes';
import { isPortFree } from '../../src/dev/dev-server';
import type { BenchEnv } from './env';
import { childrenOf } from './lib';

export interface ServerPids {
  /** the Temporal server process (the dev server, or temporal-server on the cluster) */
  server: () => number[];
  /** PostgreSQL's processes on the cluster; none for the dev server (SQLite in its process) */
  database: () => number[];
}

async function freeClusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 220) * 50;
    const p = portsFrom(base);
    const ports = [p.frontend, p.frontendHttp, p.history, p.matching, p.worker, p.postgres, p.webhooks];
    if ((await Promise.all([...ports, ...Object.values(p.membership)].map(isPortFree))).every(Boolean))
      return base;
  }
  throw new Error('no free port range for the cluster');
}

/** Brings a cluster up (no workers, no UI) and returns a BenchEnv on it that shares `base`'s simulator and bundle. */
export async function startClusterEnv(
  base: BenchEnv,
  log: (line: string) => void,
): Promise<{ env: BenchEnv; pids: ServerPids }> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'bench-cluster-'));
  chmodSync(home, 0o755); // PostgreSQL runs as the postgres user when we are root
  const layout = layoutFrom({ CLUSTER_HOME: home, CLUSTER_PORT: String(await freeClusterPort()) });
  const quiet = (line: string): void => log(`cluster: ${line}`);
  let address: string;
  try {
    address = await up(layout, { workers: 0, ui: false }, quiet);
  } catch (error) {
    await down(layout, quiet).catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
    throw error;
  }
  const connection = await Connection.connect({ address });
  const native = await NativeConnection.connect({ address });
  const serverPid = readRecord(layout, 'temporal-server')?.pid;
  const env: BenchEnv = {
    ...base,
    server: {
      address,
      uiUrl: null,
      pid: serverPid,
      stop: async () => down(layout, quiet),
    },
    connection,
    native,
    client: new Client({ connection }),
    async close() {
      await Promise.allSettled([connection.close(), native.close()]);
      await down(layout, quiet).catch((error: unknown) => log(`cluster down: ${String(error)}`));
      rmSync(home, { recursive: true, force: true });
    },
  };
  const pids: ServerPids = {
    server: () => (serverPid === undefined ? [] : [serverPid]),
    database: () => {
      const postmaster = postgresPid(layout);
      return postmaster === null ? [] : [postmaster, ...childrenOf(postmaster)];
    },
  };
  return { env, pids };
}
