/**
 * The chaos suite's Temporal dev server: `startDevServer()` (src/dev/dev-server.ts) on a fixed port and an
 * on-disk SQLite file, so workflow state survives every restart, killed with SIGTERM or SIGKILL at random.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { startDevServer, type DevServer } from '../../src/dev/dev-server';

export interface ChaosDevServerOptions {
  port: number;
  dbFile: string;
  /** the server's stderr is appended here */
  logFile: string;
  log?: (line: string) => void;
}

export class ChaosDevServer {
  readonly address: string;
  private current: DevServer | undefined;
  private closed = false;

  constructor(private readonly options: ChaosDevServerOptions) {
    this.address = `127.0.0.1:${options.port}`;
    mkdirSync(path.dirname(options.dbFile), { recursive: true });
  }

  get pid(): number | undefined {
    return this.current?.pid;
  }

  /** Starts the server and resolves once its frontend answers. */
  async start(): Promise<void> {
    if (this.closed) throw new Error('dev server stopped for good');
    if (this.current) throw new Error('dev server already running');
    appendFileSync(this.options.logFile, `--- ${new Date().toISOString()} start\n`);
    this.current = await startDevServer({ ...this.options, uiPort: null });
  }

  /** Sends `signal` and waits for the exit. */
  async kill(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const current = this.current;
    this.current = undefined;
    appendFileSync(this.options.logFile, `--- ${new Date().toISOString()} ${signal}\n`);
    await current?.stop(signal);
  }

  /** Final stop. */
  async stop(): Promise<void> {
    this.closed = true;
    await this.kill('SIGTERM');
  }

  /** Synchronous last resort (process 'exit' handler). */
  killNow(): void {
    this.closed = true;
    if (this.current?.pid) {
      try {
        process.kill(this.current.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
