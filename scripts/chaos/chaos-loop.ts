/**
 * The chaos loop: at seeded-random moments it SIGKILLs a worker (restarted 0–3 s later), restarts the dev
 * server (SIGTERM or SIGKILL, same port and db file), or opens a simulator fault window (5xx, connection resets
 * before/after a create is stored, 429 bursts, latency spikes, or quiet). The first events always include one of
 * each of kill / restart / 429 burst / resets / 5xx, in seeded order, then a second restart with the other signal,
 * so no run is vacuous.
 */
import type { Faults, ReplicateSimulator } from '../../simulator';
import type { ChaosDevServer } from './dev-server';
import type { Rng } from './prng';
import { errorMessage, sleep } from './util';
import type { WorkerPool } from './workers';

export const FAULT_KINDS = ['quiet', '5xx', 'resets', '429', 'latency', 'mixed'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface ChaosCounters {
  workerKills: number;
  serverRestarts: number;
  serverRestartsBySignal: { SIGTERM: number; SIGKILL: number };
  /** total server downtime, ms */
  serverDowntimeMs: number;
  faultWindows: Record<FaultKind, number>;
}

export interface ChaosLoopOptions {
  rng: Rng;
  sim: ReplicateSimulator;
  server: ChaosDevServer;
  pool: WorkerPool;
  /** length of the chaos window, from the loop's start */
  windowMs: number;
  /** injection goes on until this is true and the window has passed */
  allStarted: () => boolean;
  /** hard stop (ms epoch), whatever happens */
  hardStopAt: number;
  aborted: () => boolean;
  log: (line: string) => void;
  /** faults in force between (and under) the fault windows, e.g. lost create answers throughout (--resets-after-store) */
  baseline?: Faults;
}

type Action = 'kill' | 'restart' | FaultKind;

export function emptyCounters(): ChaosCounters {
  return {
    workerKills: 0,
    serverRestarts: 0,
    serverRestartsBySignal: { SIGTERM: 0, SIGKILL: 0 },
    serverDowntimeMs: 0,
    faultWindows: { quiet: 0, '5xx': 0, resets: 0, '429': 0, latency: 0, mixed: 0 },
  };
}

export async function runChaosLoop(o: ChaosLoopOptions, counters: ChaosCounters): Promise<void> {
  const { rng, sim, log } = o;
  const startedAt = Date.now();
  if (o.baseline) sim.setFaults({ ...o.baseline });
  const windowEnd = startedAt + o.windowMs;
  const maxRestarts = 2 + Math.floor(o.windowMs / 60_000);
  let lastRestartEnd = 0;
  let faultTimer: NodeJS.Timeout | undefined;
  // Guaranteed first: one of each kind that matters, then a second restart with the other signal.
  const planned: Action[] = [...rng.shuffle<Action>(['kill', 'restart', '429', 'resets', '5xx']), 'restart'];
  const firstSignal = rng.chance(0.5) ? 'SIGTERM' : 'SIGKILL';

  const setWindow = (kind: FaultKind, faults: Faults, durationMs: number): void => {
    clearTimeout(faultTimer);
    sim.setFaults({ ...o.baseline, ...faults });
    counters.faultWindows[kind]++;
    log(`faults ${kind} for ${(durationMs / 1000).toFixed(1)}s: ${JSON.stringify(faults)}`);
    faultTimer = setTimeout(() => sim.setFaults({ ...o.baseline }), durationMs);
  };

  const faultWindow = (kind: FaultKind): void => {
    const rate = (): number => Number(rng.float(0.05, 0.2).toFixed(3));
    switch (kind) {
      case 'quiet':
        return setWindow(kind, {}, rng.int(3_000, 8_000));
      case '5xx':
        return setWindow(kind, { serverErrorRate: rate() }, rng.int(3_000, 8_000));
      case 'resets':
        return setWindow(
          kind,
          { resetBeforeStoreRate: rate(), resetAfterStoreRate: rate() },
          rng.int(3_000, 8_000),
        );
      case '429':
        return setWindow(
          kind,
          {
            rateLimitNext: rng.int(5, 20),
            rateLimitStyle: rng.pick(['header', 'body', 'detail'] as const),
            rateLimitRetryAfterSeconds: 1,
          },
          rng.int(3_000, 8_000),
        );
      case 'latency':
        return setWindow(kind, { latencyMs: rng.int(500, 3_000) }, rng.int(2_000, 5_000));
      case 'mixed':
        return setWindow(
          kind,
          {
            serverErrorRate: rate() / 2,
            resetBeforeStoreRate: rate() / 2,
            resetAfterStoreRate: rate() / 2,
            latencyMs: rng.int(0, 500),
          },
          rng.int(3_000, 8_000),
        );
    }
  };

  const killWorker = (): void => {
    const alive = o.pool.alive();
    if (alive.length === 0) return log('kill worker: none alive right now, skipped');
    const index = rng.pick(alive);
    const restartAfterMs = rng.int(0, 3_000);
    const pid = o.pool.kill(index, restartAfterMs);
    counters.workerKills++;
    log(`SIGKILL worker ${index} (pid ${pid ?? '?'}), restart in ${(restartAfterMs / 1000).toFixed(1)}s`);
  };

  const restartServer = async (): Promise<void> => {
    const bySignal = counters.serverRestartsBySignal;
    const signal =
      counters.serverRestarts === 0
        ? firstSignal
        : bySignal.SIGTERM === 0
          ? 'SIGTERM'
          : bySignal.SIGKILL === 0
            ? 'SIGKILL'
            : rng.pick(['SIGTERM', 'SIGKILL'] as const);
    const downMs = rng.int(0, 2_000);
    const t0 = Date.now();
    log(
      `dev server: ${signal} (pid ${o.server.pid ?? '?'}), down for ${(downMs / 1000).toFixed(1)}s + startup`,
    );
    await o.server.kill(signal);
    await sleep(downMs);
    for (let attempt = 1; ; attempt++) {
      try {
        await o.server.start();
        break;
      } catch (error) {
        if (attempt >= 5)
          throw new Error(`dev server did not come back after ${attempt} attempts: ${errorMessage(error)}`);
        log(`dev server restart attempt ${attempt} failed: ${errorMessage(error)}; retrying`);
        await sleep(2_000);
      }
    }
    counters.serverRestarts++;
    counters.serverRestartsBySignal[signal]++;
    counters.serverDowntimeMs += Date.now() - t0;
    lastRestartEnd = Date.now();
    log(`dev server back (pid ${o.server.pid ?? '?'}) after ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  };

  try {
    while (!o.aborted() && Date.now() < o.hardStopAt) {
      if (Date.now() >= windowEnd && o.allStarted() && planned.length === 0) break;
      await sleep(rng.int(1_500, 5_000));
      if (o.aborted()) break;
      let action = planned.shift();
      if (action === undefined) {
        const restartAllowed = counters.serverRestarts < maxRestarts && Date.now() - lastRestartEnd > 15_000;
        const r = rng.next();
        action = r < 0.3 ? 'kill' : r < 0.42 && restartAllowed ? 'restart' : rng.pick(FAULT_KINDS);
      }
      if (action === 'kill') killWorker();
      else if (action === 'restart') await restartServer();
      else faultWindow(action);
    }
  } finally {
    clearTimeout(faultTimer);
    sim.setFaults({});
  }
}
