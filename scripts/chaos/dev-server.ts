/**
 * A Temporal dev server we can SIGKILL: `startDevServer()` (src/dev/dev-server.ts) only offers a graceful
 * `stop()`, so the chaos suite spawns the same binary with the same flags itself, on a fixed port and an on-disk
 * SQLite file so workflow state survives every restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { ensureBinary, TEMPORAL_CLI } from '../../src/dev/binaries';
import { isTemporalUp } from '../../src/dev/dev-server';
import { sleep } from './util';

export interface ChaosDevServerOptions {
  port: number;
  dbFile: string;
  /** the server's stderr is appended here */
  logFile: string;
  log?: (line: string) => void;
}

export class ChaosDevServer {
  readonly address: string;
  private readonly binary: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private readonly logStream: WriteStream;
  private closed = false;

  constructor(private readonly options: ChaosDevServerOptions) {
    this.address = `127.0.0.1:${options.port}`;
    this.binary = ensureBinary(TEMPORAL_CLI, options.log);
    mkdirSync(path.dirname(options.dbFile), { recursive: true });
    this.logStream = createWriteStream(options.logFile, { flags: 'a' });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Spawns the server and resolves once its frontend answers (bounded: 60 s). */
  async start(): Promise<void> {
    if (this.closed) throw new Error('dev server stopped for good');
    if (this.child) throw new Error('dev server already running');
    // The same flags as startDevServer({port, uiPort: null, dbFile}).
    const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(this.options.port)];
    args.push('--log-level', 'warn', '--headless', '--db-filename', this.options.dbFile);
    const child = spawn(this.binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.logStream.write(`--- ${new Date().toISOString()} start pid ${child.pid ?? '?'}\n`);
    let tail = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      this.logStream.write(chunk);
      tail = (tail + chunk.toString()).slice(-2000);
    });
    let hasExited = false;
    const exited = new Promise<void>((resolve) =>
      child.once('close', (code, signal) => {
        hasExited = true;
        this.logStream.write(`--- ${new Date().toISOString()} exit code ${code} signal ${signal}\n`);
        resolve();
      }),
    );
    this.child = child;
    this.exited = exited;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (await isTemporalUp(this.address)) return;
      if (hasExited) {
        this.child = undefined;
        throw new Error(`temporal server start-dev exited: ${tail.trim() || 'no output'}`);
      }
      if (Date.now() > deadline) {
        await this.kill('SIGKILL');
        throw new Error(`temporal server start-dev did not answer on ${this.address} within 60 s: ${tail}`);
      }
      await sleep(200);
    }
  }

  /** Sends `signal` and waits for the exit (SIGKILL after 15 s if SIGTERM is not enough). */
  async kill(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const child = this.child;
    const exited = this.exited;
    this.child = undefined;
    this.exited = undefined;
    if (!child || !exited || child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }

  /** Final stop: graceful, then closes the log. */
  async stop(): Promise<void> {
    this.closed = true;
    await this.kill('SIGTERM');
    await new Promise<void>((resolve) => this.logStream.end(resolve));
  }

  /** Synchronous last resort (process 'exit' handler). */
  killNow(): void {
    this.closed = true;
    this.child?.kill('SIGKILL');
  }
}
