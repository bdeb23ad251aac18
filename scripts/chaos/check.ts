/**
 * (Over 400 lines on purpose: every invariant of the chaos suite in one place, next to the summary it renders.)
 * After the storm: collect every run's outcome from Temporal and every prediction from the simulator, check the
 * invariants, and render the summary.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  ApplicationFailure,
  WorkflowFailedError,
  type Client,
  type WorkflowExecutionStatusName,
} from '@temporalio/client';
import type { PredictionResult } from '../../src/shared/types';
import type { Prediction, ReplicateSimulator } from '../../simulator';
import type { ChaosCounters } from './chaos-loop';
import { errorMessage, fmtDuration, mapLimit, retry } from './util';

export interface RunSpec {
  index: number;
  workflowId: string;
  model: string;
  input: { run: number; seed: number; prompt: string };
  expect: 'succeeded' | 'failed';
  started: boolean;
  startAttempts: number;
  startError?: string;
}

export interface RunOutcome {
  status: WorkflowExecutionStatusName | 'NOT_FOUND' | 'UNREADABLE';
  result?: PredictionResult & { adopted?: boolean };
  failureType?: string;
  failureMessage?: string;
  failurePredictionId?: string;
  error?: string;
}

export interface Invariant {
  id: number;
  name: string;
  ok: boolean;
  detail: string;
  offenders: string[];
}

export interface Summary {
  ok: boolean;
  seed: number;
  size: number;
  workers: number;
  taskQueue: string;
  durationMs: number;
  phases: { setupMs: number; startPhaseMs: number; chaosMs: number; drainMs: number };
  runs: { expected: number; started: number; closed: number; byStatus: Record<string, number> };
  models: Record<string, number>;
  faults: {
    workerKills: number;
    workerUnexpectedExits: number;
    workerSpawns: number;
    serverRestarts: number;
    serverRestartsBySignal: { SIGTERM: number; SIGKILL: number };
    serverDowntimeMs: number;
    faultWindows: Record<string, number>;
    faultWindowsTotal: number;
    answered5xx: number;
    answered429: number;
    createResetsBeforeStore: number;
    createResetsAfterStore: number;
    otherDroppedConnections: number;
    apiRequests: number;
    requestsByRoute: Record<string, number>;
  };
  predictions: {
    total: number;
    runsWithOne: number;
    runsWithNone: number;
    runsWithSeveral: number;
    duplicatesCreated: number;
    duplicatesCanceled: number;
    duplicatesUncanceled: number;
    runsWithResetAfterStore: number;
    runsWithResetAfterStoreAdopted: number;
    resultsMarkedAdopted: number;
    stillRunning: number;
  };
  invariants: Invariant[];
}

const CLOSED: ReadonlySet<string> = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT']);

export function isClosed(status: string): boolean {
  return CLOSED.has(status);
}

/** Describe every run (and read its result or failure), a few at a time, retrying transient errors. */
export async function collectOutcomes(client: Client, runs: RunSpec[]): Promise<RunOutcome[]> {
  return mapLimit(runs, 8, async (run): Promise<RunOutcome> => {
    const handle = client.workflow.getHandle(run.workflowId);
    let status: WorkflowExecutionStatusName;
    try {
      status = await retry(3, 1_000, async () => (await handle.describe()).status.name);
    } catch (error) {
      const notFound = error instanceof Error && error.name === 'WorkflowNotFoundError';
      return { status: notFound ? 'NOT_FOUND' : 'UNREADABLE', error: errorMessage(error) };
    }
    if (!isClosed(status)) return { status };
    try {
      const result = (await retry(
        3,
        1_000,
        () => handle.result(),
        isWorkflowFailure,
      )) as RunOutcome['result'];
      return { status, result };
    } catch (error) {
      if (!(error instanceof WorkflowFailedError)) return { status, error: errorMessage(error) };
      const app = applicationFailureOf(error);
      return {
        status,
        failureType: app?.type ?? error.cause?.name,
        failureMessage: app?.message ?? error.cause?.message ?? error.message,
        failurePredictionId: app ? predictionIdOf(app.details) : undefined,
      };
    }
  });
}

function isWorkflowFailure(error: unknown): boolean {
  return error instanceof WorkflowFailedError;
}

function applicationFailureOf(error: WorkflowFailedError): ApplicationFailure | undefined {
  let cause: Error | undefined = error.cause;
  while (cause && !(cause instanceof ApplicationFailure)) cause = (cause as { cause?: Error }).cause;
  return cause;
}

function predictionIdOf(details: unknown[] | undefined | null): string | undefined {
  for (const d of details ?? []) {
    if (
      typeof d === 'object' &&
      d !== null &&
      typeof (d as { predictionId?: unknown }).predictionId === 'string'
    ) {
      return (d as { predictionId: string }).predictionId;
    }
  }
  return undefined;
}

export interface EvaluateInput {
  seed: number;
  size: number;
  workers: number;
  taskQueue: string;
  durationMs: number;
  phases: Summary['phases'];
  runs: RunSpec[];
  outcomes: RunOutcome[];
  sim: ReplicateSimulator;
  chaos: ChaosCounters;
  pool: { spawns: number; unexpectedExits: number };
}

const CREATE_ROUTES = new Set([
  'predictions.create',
  'models.predictions.create',
  'deployments.predictions.create',
]);
const API_ROUTES = new Set([...CREATE_ROUTES, 'predictions.get', 'predictions.cancel', 'predictions.list']);

export function evaluate(x: EvaluateInput): Summary {
  const { runs, outcomes, sim, seed } = x;

  // ---- fault counts from the simulator's request log
  const apiRequests = sim.requests.filter((r) => API_ROUTES.has(r.route));
  const createById = new Map<string, (typeof apiRequests)[number]>();
  for (const r of apiRequests)
    if (CREATE_ROUTES.has(r.route) && r.predictionId) createById.set(r.predictionId, r);
  const resetAfterStoreIds = new Set(
    apiRequests
      .filter((r) => CREATE_ROUTES.has(r.route) && r.status === 0 && r.predictionId)
      .map((r) => r.predictionId!),
  );

  // ---- predictions, attributed to runs by input
  const byRun = new Map<number, Prediction[]>();
  const all: Prediction[] = [];
  for (const id of sim.predictionIds()) {
    const p = sim.prediction(id);
    if (!p) continue;
    all.push(p);
    const run = p.input.run;
    if (p.input.seed !== seed || typeof run !== 'number') continue;
    byRun.set(run, [...(byRun.get(run) ?? []), p]);
  }

  let runsWithOne = 0;
  let runsWithNone = 0;
  let runsWithSeveral = 0;
  let duplicatesCreated = 0;
  let duplicatesCanceled = 0;
  let runsWithResetAfterStore = 0;
  let runsWithResetAfterStoreAdopted = 0;
  let resultsMarkedAdopted = 0;
  const uncanceled: string[] = [];
  const wrong: string[] = [];

  runs.forEach((run, i) => {
    const outcome = outcomes[i]!;
    const preds = byRun.get(run.index) ?? [];
    if (outcome.result?.adopted === true) resultsMarkedAdopted++;

    // 2. terminal state and output
    if (run.expect === 'succeeded') {
      const r = outcome.result;
      if (outcome.status !== 'COMPLETED' || !r) {
        wrong.push(`${run.workflowId} (${run.model}): expected COMPLETED, got ${describeOutcome(outcome)}`);
      } else if (r.status !== 'succeeded' || !isDeepStrictEqual(r.output, run.input)) {
        wrong.push(
          `${run.workflowId}: output ${JSON.stringify(r.output)} != input ${JSON.stringify(run.input)}`,
        );
      } else if (!isDeepStrictEqual(sim.prediction(r.id)?.input, run.input)) {
        wrong.push(`${run.workflowId}: result.id ${r.id} is not a prediction of this run's input`);
      }
    } else if (outcome.status !== 'FAILED' || outcome.failureType !== 'PredictionFailed') {
      wrong.push(
        `${run.workflowId} (${run.model}): expected FAILED/PredictionFailed, got ${describeOutcome(outcome)}`,
      );
    }

    // 3. one prediction per run; extra ones only if canceled
    if (preds.length === 0) runsWithNone++;
    else if (preds.length === 1) runsWithOne++;
    else runsWithSeveral++;
    const ownedId =
      outcome.result?.id ??
      outcome.failurePredictionId ??
      [...preds].sort((a, b) => sim.counters(b.id).gets - sim.counters(a.id).gets)[0]?.id;
    const owned = preds.find((p) => p.id === ownedId) ?? preds[0];
    if (preds.some((p) => resetAfterStoreIds.has(p.id))) {
      runsWithResetAfterStore++;
      if (owned && resetAfterStoreIds.has(owned.id)) runsWithResetAfterStoreAdopted++;
    }
    for (const p of preds) {
      if (p === owned) continue;
      duplicatesCreated++;
      const canceled = (p.status === 'canceled' || p.status === 'aborted') && sim.counters(p.id).cancels > 0;
      if (canceled) duplicatesCanceled++;
      else {
        const how = resetAfterStoreIds.has(p.id)
          ? 'create reset after store'
          : `create ${createById.get(p.id)?.status ?? '?'}`;
        uncanceled.push(
          `${run.workflowId}: ${p.id} ${p.status}, cancels ${sim.counters(p.id).cancels} (${how})`,
        );
      }
    }
  });

  const stuck = runs.filter((_, i) => !isClosed(outcomes[i]!.status));
  const stillRunning = all.filter((p) => p.status === 'starting' || p.status === 'processing');
  const started = runs.filter((r) => r.started).length;
  const closed = outcomes.filter((o) => isClosed(o.status)).length;
  const byStatus: Record<string, number> = {};
  for (const o of outcomes) byStatus[o.status] = (byStatus[o.status] ?? 0) + 1;
  const models: Record<string, number> = {};
  for (const r of runs) models[r.model] = (models[r.model] ?? 0) + 1;

  const invariants: Invariant[] = [
    {
      id: 1,
      name: 'every workflow closed',
      ok: stuck.length === 0,
      detail: `${closed}/${runs.length} closed, ${stuck.length} stuck`,
      offenders: stuck.map((r) => `${r.workflowId}: ${outcomes[r.index]!.status}`),
    },
    {
      id: 2,
      name: 'right terminal state and output',
      ok: wrong.length === 0,
      detail: `${runs.length - wrong.length}/${runs.length} right`,
      offenders: wrong,
    },
    {
      id: 3,
      name: 'no uncanceled duplicate predictions',
      ok: uncanceled.length === 0,
      detail: `duplicates created ${duplicatesCreated}, canceled ${duplicatesCanceled}, uncanceled ${uncanceled.length}`,
      offenders: uncanceled,
    },
    {
      id: 4,
      name: 'no prediction left running',
      ok: stillRunning.length === 0,
      detail: `${stillRunning.length} starting/processing`,
      offenders: stillRunning.map((p) => `${p.id} run ${String(p.input.run)} ${p.status}`),
    },
    {
      id: 5,
      name: 'no lost runs',
      ok: started === x.size && closed === x.size && runs.length === x.size,
      detail: `started ${started}, closed ${closed}, expected ${x.size}`,
      offenders: runs
        .filter((r) => !r.started)
        .map((r) => `${r.workflowId}: not started (${r.startError ?? '?'})`),
    },
  ];

  const windows = x.chaos.faultWindows;
  return {
    ok: invariants.every((i) => i.ok),
    seed,
    size: x.size,
    workers: x.workers,
    taskQueue: x.taskQueue,
    durationMs: x.durationMs,
    phases: x.phases,
    runs: { expected: x.size, started, closed, byStatus },
    models,
    faults: {
      workerKills: x.chaos.workerKills,
      workerUnexpectedExits: x.pool.unexpectedExits,
      workerSpawns: x.pool.spawns,
      serverRestarts: x.chaos.serverRestarts,
      serverRestartsBySignal: x.chaos.serverRestartsBySignal,
      serverDowntimeMs: x.chaos.serverDowntimeMs,
      faultWindows: windows,
      faultWindowsTotal: Object.values(windows).reduce((a, b) => a + b, 0),
      answered5xx: apiRequests.filter((r) => r.status >= 500).length,
      answered429: apiRequests.filter((r) => r.status === 429).length,
      createResetsBeforeStore: apiRequests.filter(
        (r) => CREATE_ROUTES.has(r.route) && r.status === 0 && !r.predictionId,
      ).length,
      createResetsAfterStore: resetAfterStoreIds.size,
      otherDroppedConnections: apiRequests.filter((r) => !CREATE_ROUTES.has(r.route) && r.status === 0)
        .length,
      apiRequests: apiRequests.length,
      requestsByRoute: countBy(apiRequests.map((r) => `${r.route} ${r.status}`)),
    },
    predictions: {
      total: all.length,
      runsWithOne,
      runsWithNone,
      runsWithSeveral,
      duplicatesCreated,
      duplicatesCanceled,
      duplicatesUncanceled: uncanceled.length,
      runsWithResetAfterStore,
      runsWithResetAfterStoreAdopted,
      resultsMarkedAdopted,
      stillRunning: stillRunning.length,
    },
    invariants,
  };
}

function countBy(keys: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of keys.sort()) out[k] = (out[k] ?? 0) + 1;
  return out;
}

function describeOutcome(o: RunOutcome): string {
  if (o.failureType !== undefined) return `${o.status} ${o.failureType}: ${o.failureMessage ?? ''}`.trim();
  return o.error ? `${o.status} (${o.error})` : o.status;
}

/** The human-readable summary table. */
export function renderSummary(s: Summary): string {
  const f = s.faults;
  const p = s.predictions;
  const w = f.faultWindows;
  const row = (label: string, value: string | number): string => `  ${label.padEnd(34)} ${value}`;
  const lines = [
    '',
    `=== chaos summary: ${s.ok ? 'PASS' : 'FAIL'} ===`,
    row('seed', `${s.seed}   (replay: --seed ${s.seed} --size ${s.size} --workers ${s.workers})`),
    row('size / workers', `${s.size} runs / ${s.workers} worker processes`),
    row(
      'duration',
      `${fmtDuration(s.durationMs)} (setup ${fmtDuration(s.phases.setupMs)}, starts ${fmtDuration(s.phases.startPhaseMs)}, chaos ${fmtDuration(s.phases.chaosMs)}, drain ${fmtDuration(s.phases.drainMs)})`,
    ),
    row(
      'models',
      Object.entries(s.models)
        .map(([m, n]) => `${m} ${n}`)
        .join(', '),
    ),
    `runs: started ${s.runs.started}, closed ${s.runs.closed}, expected ${s.runs.expected}  (${Object.entries(
      s.runs.byStatus,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')})`,
    'faults injected',
    row('worker kills (SIGKILL)', f.workerKills),
    row('worker exits on their own', f.workerUnexpectedExits),
    row('worker processes spawned', f.workerSpawns),
    row(
      'server restarts',
      `${f.serverRestarts} (SIGTERM ${f.serverRestartsBySignal.SIGTERM}, SIGKILL ${f.serverRestartsBySignal.SIGKILL}; down ${fmtDuration(f.serverDowntimeMs)} in all)`,
    ),
    row(
      'fault windows',
      `${f.faultWindowsTotal} (${Object.entries(w)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')})`,
    ),
    row('5xx answered', f.answered5xx),
    row('429 answered', f.answered429),
    row('create resets before store', f.createResetsBeforeStore),
    row('create resets after store', f.createResetsAfterStore),
    row('other dropped connections', f.otherDroppedConnections),
    row('API requests in all', f.apiRequests),
    'predictions',
    row('created in all', p.total),
    row('runs with 1 / 0 / >1 predictions', `${p.runsWithOne} / ${p.runsWithNone} / ${p.runsWithSeveral}`),
    row('duplicates created', p.duplicatesCreated),
    row('duplicates canceled', p.duplicatesCanceled),
    row('duplicates uncanceled', p.duplicatesUncanceled),
    row(
      'runs hit by reset after store',
      `${p.runsWithResetAfterStore} (its prediction adopted in ${p.runsWithResetAfterStoreAdopted}; results marked adopted: ${p.resultsMarkedAdopted})`,
    ),
    row('still running at the simulator', p.stillRunning),
    'invariants',
  ];
  for (const inv of s.invariants) {
    lines.push(`  ${inv.ok ? 'PASS' : 'FAIL'} ${inv.id}. ${inv.name.padEnd(36)} ${inv.detail}`);
    for (const o of inv.offenders.slice(0, 15)) lines.push(`         - ${o}`);
    if (inv.offenders.length > 15) lines.push(`         ... and ${inv.offenders.length - 15} more`);
  }
  return lines.join('\n');
}
