/**
 * Background processes of the cluster: each started detached in a process group of its own, its output appended to
 * `<home>/logs/<name>.log`, its pid in `<home>/run/<name>.json`. A process counts as ours only while its
 * environment carries CLUSTER_OWNER=<home>, so a recycled pid is never signalled; stopping signals the whole group
 * (npm, the shell and node below it) and nothing else.
 */
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import type { Layout } from './layout';

export interface ProcessRecord {
  name: string;
  pid: number;
  command: string[];
  startedAt: string;
  /** what to show in `status` (address, URL) */
  detail?: string;
}

const OWNER_VAR = 'CLUSTER_OWNER';

export function recordFile(layout: Layout, name: string): string {
  return path.join(layout.runDir, `${name}.json`);
}

export function logFile(layout: Layout, name: string): string {
  return path.join(layout.logDir, `${name}.log`);
}

export function readRecords(layout: Layout): ProcessRecord[] {
  if (!existsSync(layout.runDir)) return [];
  return readdirSync(layout.runDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => {
      try {
        return JSON.parse(readFileSync(path.join(layout.runDir, f), 'utf8')) as ProcessRecord;
      } catch {
        return null;
      }
    })
    .filter((r): r is ProcessRecord => r !== null)
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

export function readRecord(layout: Layout, name: string): ProcessRecord | null {
  try {
    return JSON.parse(readFileSync(recordFile(layout, name), 'utf8')) as ProcessRecord;
  } catch {
    return null;
  }
}

export function writeRecord(layout: Layout, record: ProcessRecord): void {
  mkdirSync(layout.runDir, { recursive: true });
  writeFileSync(recordFile(layout, record.name), `${JSON.stringify(record, null, 2)}\n`);
}

export function removeRecord(layout: Layout, name: string): void {
  rmSync(recordFile(layout, name), { force: true });
}

/** True while `pid` runs and was started by this cluster (its environment names our home). */
export function isOurs(layout: Layout, pid: number): boolean {
  try {
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
    return environ.split('\0').includes(`${OWNER_VAR}=${layout.home}`);
  } catch {
    return false;
  }
}

/** Every live process of this cluster (any process group, any depth). */
export function ourProcesses(layout: Layout): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => pid !== process.pid && isOurs(layout, pid));
}

/** Pids of the processes in process group `pgid`. */
export function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid pgrp ...: comm may contain spaces, so split after its closing parenthesis
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid) members.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return members;
}

/**
 * True while any process of the record's group runs (a worker's node process outlives a killed npm parent: it
 * still works, so it is not started twice).
 */
export function isRunning(layout: Layout, record: ProcessRecord | null): boolean {
  if (record === null) return false;
  return isOurs(layout, record.pid) || groupMembers(record.pid).some((pid) => isOurs(layout, pid));
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  detail?: string;
}

/** Starts a detached process group whose output goes to its log file; returns its record. */
export function startDetached(layout: Layout, options: StartOptions): ProcessRecord {
  mkdirSync(layout.logDir, { recursive: true });
  const fd = openSync(logFile(layout, options.name), 'a');
  writeSync(fd, `\n--- ${new Date().toISOString()} ${[options.command, ...options.args].join(' ')}\n`);
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: { ...options.env, [OWNER_VAR]: layout.home },
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`cannot start ${options.command}`);
  child.unref();
  const record: ProcessRecord = {
    name: options.name,
    pid: child.pid,
    command: [options.command, ...options.args],
    startedAt: new Date().toISOString(),
    ...(options.detail ? { detail: options.detail } : {}),
  };
  writeRecord(layout, record);
  return record;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Stops processes of ours: `signal` (SIGTERM by default), SIGKILL to what is left after `graceMs`; resolves once
 * none of them runs. `current()` lists them afresh each time (a group's members, say).
 */
export async function stopProcesses(
  layout: Layout,
  current: () => number[],
  { signal = 'SIGTERM', graceMs = 30_000 }: { signal?: NodeJS.Signals; graceMs?: number } = {},
): Promise<boolean> {
  const alive = (): number[] => current().filter((pid) => isOurs(layout, pid));
  if (alive().length === 0) return false;
  const signalAll = (sig: NodeJS.Signals): void => {
    for (const pid of alive()) {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  signalAll(signal);
  const deadline = Date.now() + graceMs;
  while (alive().length > 0) {
    if (Date.now() > deadline) signalAll('SIGKILL');
    await sleep(100);
  }
  return true;
}

/** Stops the process group of `record` (npm, the shell and node below it) and removes the record. */
export async function stopGroup(
  layout: Layout,
  record: ProcessRecord,
  options: { signal?: NodeJS.Signals; graceMs?: number } = {},
): Promise<boolean> {
  const stopped = await stopProcesses(layout, () => groupMembers(record.pid), options);
  removeRecord(layout, record.name);
  return stopped;
}
