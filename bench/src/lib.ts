/** Small shared pieces of the benchmark harness: seeded random numbers, percentiles, /proc sampling, histories. */
import { readFileSync, readdirSync } from 'node:fs';
import type { WorkflowHandle } from '@temporalio/client';
import { mulberry32 } from '../../simulator/http';

/** A seeded PRNG (the simulator's mulberry32), so every run draws the same durations. */
export const rng = mulberry32;

export interface Percentiles {
  n: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles; zeros when there are no values. */
export function percentiles(values: number[]): Percentiles {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { n: 0, min: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 };
  const at = (p: number): number => v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))]!;
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  return { n: v.length, min: v[0]!, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: v[v.length - 1]!, mean };
}

export const round = (x: number, digits = 3): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

export function roundAll<T>(value: T, digits = 3): T {
  if (typeof value === 'number') return round(value, digits) as T;
  if (Array.isArray(value)) return value.map((x: unknown) => roundAll(x, digits)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, roundAll(x, digits)])) as T;
  }
  return value;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Run `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

// ------------------------------------------------------------------ process sampling (/proc)

export interface ProcSample {
  rssMb: number;
  hwmMb: number;
  cpuSeconds: number;
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** RSS, peak RSS and CPU seconds (utime + stime) of a process, or undefined when it is gone. */
export function readProc(pid: number): ProcSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[11]) + Number(rest[12]);
    return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024, cpuSeconds: ticks / CLOCK_TICKS };
  } catch {
    return undefined;
  }
}

/** Samples a process every `everyMs` until stopped: peak RSS (sampled and kernel VmHWM) and CPU. */
export class ProcSampler {
  private timer: NodeJS.Timeout | undefined;
  private readonly first: ProcSample | undefined;
  private last: ProcSample | undefined;
  private peakRssMb = 0;
  samples = 0;

  constructor(
    private readonly pid: number,
    everyMs = 250,
  ) {
    this.first = readProc(pid);
    this.last = this.first;
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  private sample(): void {
    const s = readProc(this.pid);
    if (!s) return;
    this.samples++;
    this.last = s;
    this.peakRssMb = Math.max(this.peakRssMb, s.rssMb);
  }

  stop(): { cpuSeconds: number; peakRssMb: number; vmHwmMb: number; endRssMb: number } {
    this.sample();
    clearInterval(this.timer);
    this.timer = undefined;
    return {
      cpuSeconds: (this.last?.cpuSeconds ?? 0) - (this.first?.cpuSeconds ?? 0),
      peakRssMb: this.peakRssMb,
      vmHwmMb: this.last?.hwmMb ?? 0,
      endRssMb: this.last?.rssMb ?? 0,
    };
  }
}

// ------------------------------------------------------------------ workflow histories

export interface HistoryStats {
  events: number;
  workflowTasksCompleted: number;
  workflowTaskTimeouts: number;
  /** of those, how many timed out waiting on a (sticky) queue rather than while a worker ran them */
  workflowTaskScheduleToStartTimeouts: number;
  workflowTaskFailures: number;
  activityTimeouts: number;
  /** timers a poll waited on for its worker's share of the reads budget (src/worker/read-share.ts) */
  readBudgetWaits: number;
  /** polls made as regular activities on the rate-limited reads queue (not local) */
  queuedPolls: number;
  completed: boolean;
  /** time of the close event (epoch ms), if closed */
  closedAt: number | undefined;
  startedAt: number | undefined;
}

type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];
type Ts = HistoryEvent['eventTime'];
export function tsMs(ts: Ts): number | undefined {
  if (!ts) return undefined;
  const s = ts.seconds as unknown;
  const seconds =
    typeof s === 'object' && s !== null && 'toNumber' in s
      ? (s as { toNumber(): number }).toNumber()
      : Number(s ?? 0);
  return seconds * 1000 + (ts.nanos ?? 0) / 1e6;
}

/** An event's summary (user metadata), as text; '' without one. */
function summaryOf(e: HistoryEvent): string {
  const data = e.userMetadata?.summary?.data;
  return data ? Buffer.from(data).toString('utf8') : '';
}

export function historyStats(events: HistoryEvent[]): HistoryStats {
  const closing = events.find(
    (e) =>
      e.workflowExecutionCompletedEventAttributes ||
      e.workflowExecutionFailedEventAttributes ||
      e.workflowExecutionTimedOutEventAttributes ||
      e.workflowExecutionCanceledEventAttributes ||
      e.workflowExecutionTerminatedEventAttributes ||
      e.workflowExecutionContinuedAsNewEventAttributes,
  );
  return {
    events: events.length,
    workflowTasksCompleted: events.filter((e) => e.workflowTaskCompletedEventAttributes).length,
    workflowTaskTimeouts: events.filter((e) => e.workflowTaskTimedOutEventAttributes).length,
    // TimeoutType 2 = SCHEDULE_TO_START (a sticky task nobody picked up in time), 1 = START_TO_CLOSE
    workflowTaskScheduleToStartTimeouts: events.filter(
      (e) => Number(e.workflowTaskTimedOutEventAttributes?.timeoutType) === 2,
    ).length,
    workflowTaskFailures: events.filter((e) => e.workflowTaskFailedEventAttributes).length,
    activityTimeouts: events.filter((e) => e.activityTaskTimedOutEventAttributes).length,
    readBudgetWaits: events.filter(
      (e) => e.timerStartedEventAttributes && summaryOf(e).includes("for the fleet's read budget"),
    ).length,
    queuedPolls: events.filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'getPrediction',
    ).length,
    completed: events.some((e) => e.workflowExecutionCompletedEventAttributes),
    closedAt: closing ? tsMs(closing.eventTime) : undefined,
    startedAt: tsMs(events[0]?.eventTime),
  };
}

// ------------------------------------------------------------------ a set of processes (a server and its database)

/** Pids whose parent is `ppid` (PostgreSQL's backends and auxiliary processes under its postmaster). */
export function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Proportional set size (shared pages split between their users), else RSS, in MB. */
function pssMb(pid: number): number | undefined {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = /^Pss:\s+(\d+)/m.exec(rollup)?.[1];
    if (kb !== undefined) return Number(kb) / 1024;
  } catch {
    // not readable: fall back to RSS
  }
  return readProc(pid)?.rssMb;
}

/**
 * Samples a changing set of processes (`pids()` is asked afresh every time): CPU seconds of the set over the window
 * (a process first seen later counts whole: it started within the window) and the peak of their summed memory,
 * PSS so that PostgreSQL's shared buffers count once. A process that exits loses its last < `everyMs` of CPU.
 */
export class ProcSetSampler {
  private timer: NodeJS.Timeout | undefined;
  private readonly base = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private peakMb = 0;
  private maxProcesses = 0;

  constructor(
    private readonly pids: () => number[],
    everyMs = 500,
  ) {
    for (const pid of pids()) {
      const s = readProc(pid);
      if (s) this.base.set(pid, s.cpuSeconds);
    }
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  private sample(): void {
    let mb = 0;
    const live = this.pids();
    for (const pid of live) {
      const s = readProc(pid);
      if (!s) continue;
      if (!this.base.has(pid)) this.base.set(pid, 0);
      this.last.set(pid, s.cpuSeconds);
      mb += pssMb(pid) ?? 0;
    }
    this.peakMb = Math.max(this.peakMb, mb);
    this.maxProcesses = Math.max(this.maxProcesses, live.length);
  }

  stop(): { cpuSeconds: number; peakMemoryMb: number; maxProcesses: number } {
    this.sample();
    clearInterval(this.timer);
    let cpu = 0;
    for (const [pid, last] of this.last) cpu += last - (this.base.get(pid) ?? 0);
    return { cpuSeconds: cpu, peakMemoryMb: this.peakMb, maxProcesses: this.maxProcesses };
  }
}
