/**
 * K worker processes (`node --import tsx src/worker/index.ts`), each in its own slot. The chaos loop SIGKILLs them;
 * a slot restarts after the delay the kill asked for. A worker that exits on its own (e.g. it could not reach
 * the server while it restarted) is counted and restarted after 1 s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/dev/binaries';
import { sleep } from './util';

export interface WorkerPoolOptions {
  count: number;
  /** extra environment of every worker */
  env: Record<string, string>;
  logDir: string;
  log: (line: string) => void;
}

interface Slot {
  index: number;
  child?: ChildProcess;
  exited?: Promise<void>;
  ready: boolean;
  /** set by kill(): restart this long after the exit */
  restartDelayMs?: number;
  restartTimer?: NodeJS.Timeout;
  logStream: WriteStream;
}

export class WorkerPool {
  kills = 0;
  spawns = 0;
  unexpectedExits = 0;
  private stopping = false;
  private readonly slots: Slot[];

  constructor(private readonly options: WorkerPoolOptions) {
    this.slots = Array.from({ length: options.count }, (_, index) => ({
      index,
      ready: false,
      logStream: createWriteStream(path.join(options.logDir, `worker-${index}.log`), { flags: 'a' }),
    }));
  }

  logFiles(): string[] {
    return this.slots.map((s) => path.join(this.options.logDir, `worker-${s.index}.log`));
  }

  /** Starts every slot and waits until each worker polls its queue (bounded by `timeoutMs`). */
  async startAll(timeoutMs: number): Promise<void> {
    for (const slot of this.slots) this.spawn(slot);
    const deadline = Date.now() + timeoutMs;
    while (!this.slots.every((s) => s.ready)) {
      if (Date.now() > deadline)
        throw new Error(`workers not ready within ${timeoutMs} ms; see ${this.options.logDir}`);
      await sleep(200);
    }
  }

  /** Indexes of slots with a live process. */
  alive(): number[] {
    return this.slots.filter((s) => s.child !== undefined).map((s) => s.index);
  }

  readyCount(): number {
    return this.slots.filter((s) => s.child !== undefined && s.ready).length;
  }

  /** SIGKILL the worker in `index`; it is restarted `restartAfterMs` after it exited. */
  kill(index: number, restartAfterMs: number): number | undefined {
    const slot = this.slots[index];
    if (!slot?.child) return undefined;
    const pid = slot.child.pid;
    slot.restartDelayMs = restartAfterMs;
    slot.child.kill('SIGKILL');
    this.kills++;
    return pid;
  }

  /** Waits (bounded) until every slot runs a worker that polls its queue. */
  async waitAllReady(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.readyCount() === this.slots.length) return true;
      await sleep(250);
    }
    return false;
  }

  /** Stops every worker: SIGTERM (graceful, SHUTDOWN_GRACE_SECONDS), SIGKILL after `graceMs`. */
  async stopAll(graceMs: number): Promise<void> {
    this.stopping = true;
    for (const slot of this.slots) clearTimeout(slot.restartTimer);
    await Promise.all(
      this.slots.map(async (slot) => {
        const { child, exited } = slot;
        if (child && exited) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          await exited;
          clearTimeout(timer);
        }
        await new Promise<void>((resolve) => slot.logStream.end(resolve));
      }),
    );
  }

  /** Synchronous last resort (process 'exit' handler). */
  killAllNow(): void {
    this.stopping = true;
    for (const slot of this.slots) {
      clearTimeout(slot.restartTimer);
      slot.child?.kill('SIGKILL');
    }
  }

  private spawn(slot: Slot): void {
    if (this.stopping) return;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker/main.ts'], {
      cwd: PROJECT_ROOT,
      // unencrypted like the chaos client, whatever the shell's ENCRYPTION_KEY
      env: { ...process.env, ENCRYPTION_KEY: '', ENCRYPTION_KEYS_OLD: '', ...this.options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.spawns++;
    slot.child = child;
    slot.ready = false;
    slot.logStream.write(`--- ${new Date().toISOString()} spawn pid ${child.pid ?? '?'}\n`);
    const onData = (chunk: Buffer): void => {
      slot.logStream.write(chunk);
      if (!slot.ready && chunk.toString().includes('worker polling task queue')) slot.ready = true;
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    slot.exited = new Promise<void>((resolve) =>
      child.once('close', (code, signal) => {
        slot.logStream.write(`--- ${new Date().toISOString()} exit code ${code} signal ${signal}\n`);
        slot.child = undefined;
        slot.ready = false;
        resolve();
        if (this.stopping) return;
        let delay = slot.restartDelayMs;
        slot.restartDelayMs = undefined;
        if (delay === undefined) {
          this.unexpectedExits++;
          this.options.log(
            `worker ${slot.index} (pid ${child.pid ?? '?'}) exited on its own (code ${code}, signal ${signal}); restarting in 1s`,
          );
          delay = 1_000;
        }
        slot.restartTimer = setTimeout(() => this.spawn(slot), delay);
      }),
    );
  }
}
