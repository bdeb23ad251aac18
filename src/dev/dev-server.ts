/** Start and stop a Temporal dev server (`temporal server start-dev`) as a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import { devServerSearchAttributeFlags } from '../client/temporal-setup';
import { ensureBinary, TEMPORAL_CLI } from './binaries';

export interface DevServer {
  address: string;
  uiUrl: string | null;
  pid: number | undefined;
  /** stop the server: SIGTERM by default (SIGKILL after 10 s), or SIGKILL at once (chaos tests) */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
}

export interface DevServerOptions {
  port: number;
  /** Web UI port, or null for headless */
  uiPort: number | null;
  /** on-disk SQLite file (survives restarts); in-memory when omitted */
  dbFile?: string;
  /** the server's stderr is appended here */
  logFile?: string;
  log?: (line: string) => void;
  /** pre-register the workflows' search attributes (default true); false = a fresh server as a user's would be */
  searchAttributes?: boolean;
  /** the UI's remote codec endpoint (a codec server: src/encryption/codec-server.ts) */
  uiCodecEndpoint?: string;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** True when nothing listens on `port` (any address) right now. */
export async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, () => server.close(() => resolve(true)));
  });
}

/** True when a Temporal frontend answers at `address` (with `options`' TLS and API key, if any). */
export async function isTemporalUp(
  address: string,
  options: Omit<ConnectionOptions, 'address' | 'connectTimeout'> = {},
): Promise<boolean> {
  try {
    const connection = await Connection.connect({ ...options, address, connectTimeout: '1s' });
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const binary = ensureBinary(TEMPORAL_CLI, options.log);
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--log-level',
    'warn',
  ];
  if (options.searchAttributes !== false) args.push(...devServerSearchAttributeFlags());
  args.push(...(options.uiPort === null ? ['--headless'] : ['--ui-port', String(options.uiPort)]));
  if (options.uiCodecEndpoint && options.uiPort !== null)
    args.push('--ui-codec-endpoint', options.uiCodecEndpoint);
  if (options.dbFile) {
    mkdirSync(path.dirname(options.dbFile), { recursive: true });
    args.push('--db-filename', options.dbFile);
  }
  const address = `127.0.0.1:${options.port}`;
  // The CLI picks the ports of its HTTP API, metrics and internal services itself (free when it looks, not always
  // when the server binds, with other servers starting beside it, as in the test suite): such a collision is retried.
  for (let attempt = 1; ; attempt++) {
    const started = await spawnDevServer(binary, args, address, options.logFile);
    if ('child' in started) {
      const { child, exited } = started;
      return {
        address,
        uiUrl: options.uiPort === null ? null : `http://localhost:${options.uiPort}`,
        pid: child.pid,
        stop: (signal = 'SIGTERM') => stopChild(child, exited, signal),
      };
    }
    const busy = portInUse(started.stderr);
    // Our port held by another process: a new start cannot help. Free again, the CLI had picked it for one of its
    // own services while it was still free (seen: the worker service on the frontend's port): a new start picks anew.
    const ours = busy !== undefined && (busy === options.port || busy === options.uiPort);
    const taken = ours && !(await isPortFree(busy));
    if (busy === undefined || taken || attempt === 3)
      throw new Error(`temporal server start-dev exited: ${started.stderr.trim() || 'no output'}`);
  }
}

/** The port a failed start could not bind ("listen tcp 127.0.0.1:PORT: bind: address already in use"), if any. */
export function portInUse(stderr: string): number | undefined {
  const match = /listen tcp [^\s]*:(\d+): bind: address already in use/.exec(stderr);
  return match ? Number(match[1]) : undefined;
}

/** One start: the server once it answers on `address`, or its stderr when it exited first. */
async function spawnDevServer(
  binary: string,
  args: string[],
  address: string,
  logFile: string | undefined,
): Promise<{ child: ChildProcess; exited: Promise<number | null> } | { stderr: string }> {
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  // The first and the last 4,000 characters: a Go panic says why in its first line, then prints kilobytes of stack.
  let head = '';
  let tail = '';
  const logStream = logFile ? createWriteStream(logFile, { flags: 'a' }) : undefined;
  child.stderr?.on('data', (chunk: Buffer) => {
    logStream?.write(chunk);
    const text = chunk.toString();
    const room = Math.max(0, 4000 - head.length);
    head += text.slice(0, room);
    tail = (tail + text.slice(room)).slice(-4000);
  });
  const stderr = () => (tail ? `${head}\n…\n${tail}` : head);
  child.once('exit', () => logStream?.end());
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve())); // stderr read to its end

  const deadline = Date.now() + 30_000;
  for (;;) {
    const state = await Promise.race([
      exited.then(() => 'exited' as const),
      isTemporalUp(address).then((up) => (up ? 'up' : 'down')),
    ]);
    if (state === 'up') break;
    if (state === 'exited') {
      await closed;
      return { stderr: stderr() };
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `temporal server start-dev did not answer on ${address} within 30 s: ${stderr().trim()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { child, exited };
}

async function stopChild(
  child: ChildProcess,
  exited: Promise<unknown>,
  signal: 'SIGTERM' | 'SIGKILL',
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
