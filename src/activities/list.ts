/** `listRecentJobs`: the jobs created since a time, for the reconciler (and for adoption, `listSince`). */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../shared/adopt';
import { isTerminal, type JobKind, type Prediction, type PredictionStatus } from '../shared/types';
import { call, type ActivitySetup } from './context';
import { withEchoedFields } from './echoed';

/** One line of a listing, for the reconciler. */
export interface JobSummary {
  id: string;
  kind: JobKind;
  model: string | null;
  status: PredictionStatus;
  createdAt: string;
  /** set when the job was created with Cancel-After, as all of ours are */
  deadline: string | null;
  version?: string | null;
  deployment?: string | null;
  /** the webhook URL it was created with (ours name the workflow) */
  webhook?: string | null;
  /** sha256 of its input's canonical JSON (see inputDigest): the reconciler matches it to a run's request */
  inputDigest?: string;
  /** 'web' for a job made on replicate.com (never ours); absent for API jobs and when the listing does not say */
  source?: 'web';
}

/** sha256 of the canonical JSON of a job's input: how the reconciler compares listings with runs' requests. */
export function inputDigest(input: unknown): string {
  return createHash('sha256')
    .update(canonicalJson(input ?? null))
    .digest('hex');
}

/** Predictions (or trainings) created since `since` (ISO 8601), newest first, at most `maxPages` pages. */
export async function listRecentJobs(
  setup: ActivitySetup,
  since: string,
  kind: JobKind,
  maxPages: number,
): Promise<JobSummary[]> {
  const from = Date.parse(since);
  const listed = await listSince(setup, kind, from, maxPages);
  // Running jobs are the reconciler's candidates: where the listing left the echoed fields out, GET may have them.
  const running = await withEchoedFields(
    setup,
    kind,
    listed.filter((p) => !isTerminal(p.status)),
  );
  const read = new Map(running.map((p) => [p.id, p]));
  const jobs = listed.map((p) => read.get(p.id) ?? p);
  return jobs.map((p) => ({
    id: p.id,
    kind,
    model: p.model ?? null,
    status: p.status,
    createdAt: p.created_at ?? since,
    deadline: p.deadline ?? null,
    version: p.version ?? null,
    deployment: p.deployment ?? null,
    webhook: p.webhook ?? null,
    inputDigest: inputDigest(p.input ?? null),
    ...((p as { source?: string }).source === 'web' ? { source: 'web' as const } : {}),
  }));
}

/**
 * Jobs created at or after `from` (ms), newest first, following the absolute `next` URLs until a page
 * reaches older jobs or `maxPages` pages were read. One HTTP exchange per page.
 */
export async function listSince(
  setup: ActivitySetup,
  kind: JobKind,
  from: number,
  maxPages: number,
): Promise<Prediction[]> {
  const jobs: Prediction[] = [];
  let next: string | URL | null =
    kind === 'prediction'
      ? `/predictions?created_after=${encodeURIComponent(new Date(from).toISOString())}`
      : '/trainings';
  for (let page = 0; next !== null && page < maxPages; page++) {
    const route: string | URL = next;
    const body = await call(setup, `list ${kind}s`, setup.timeouts.getMs, async (client) => {
      const response = await client.request(route, { method: 'GET' });
      return (await response.json()) as { next?: string | null; results?: Prediction[] };
    });
    const results = body.results ?? [];
    jobs.push(...results.filter((p) => p.created_at !== undefined && Date.parse(p.created_at) >= from));
    const oldest = results.at(-1)?.created_at;
    next = body.next && !(oldest && Date.parse(oldest) < from) ? new URL(body.next) : null;
  }
  return jobs;
}
