/**
 * The create log, for spend-safety tests: every create request (any of the four create routes), when it arrived,
 * when its run was committed (stored) or that it never was, the id it made, and when a cancel of that run took
 * effect. A test can assert "the first create of run X committed 38 s after it arrived and was canceled within
 * 60 s of its commit", or that a 429 or a reset before the commit stored nothing.
 */
import type { RecordedRequest } from './context';
import type { RunStore } from './store';

export const CREATE_ROUTES: ReadonlySet<string> = new Set([
  'predictions.create',
  'models.predictions.create',
  'deployments.predictions.create',
  'trainings.create',
]);

export interface CreateLogEntry {
  route: string;
  /** when the request arrived (the simulator's clock, epoch ms) */
  arrivedAt: number;
  /** when its prediction or training was stored; undefined while pending and when nothing was stored */
  committedAt: number | undefined;
  /** the id it made; undefined when nothing was stored */
  predictionId: string | undefined;
  /** HTTP status answered; 0 while unanswered or when the connection was destroyed without an answer */
  status: number;
  /** the parsed request body */
  body: unknown;
  /** when a cancel of the run it made took effect (POST .../cancel while the run was not terminal) */
  canceledAt: number | undefined;
}

export function createLog(requests: readonly RecordedRequest[], store: RunStore): CreateLogEntry[] {
  return requests
    .filter((r) => CREATE_ROUTES.has(r.route))
    .map((r) => {
      const id = r.committedAt === undefined ? undefined : r.predictionId;
      return {
        route: r.route,
        arrivedAt: r.at,
        committedAt: r.committedAt,
        predictionId: id,
        status: r.status,
        body: r.body,
        canceledAt: id === undefined ? undefined : store.get(id)?.rec.canceledAt,
      };
    });
}
