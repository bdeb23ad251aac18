/**
 * The create phase on the time-skipping test server with fake activities: what each failed attempt tells decides
 * whether the next one searches for a lost job first; a job is taken only by winning its claim; a create committed
 * late is claimed and canceled by the late-commit watch; only a 429 storm outlasts eight attempts.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import type { Activities, FindOwnJobsArgs } from '../../src/activities';
import type { CreateOutcome } from '../../src/shared/failure-details';
import { claimWorkflowId } from '../../src/shared/ownership';
import type { PredictionRequest, PredictionSnapshot } from '../../src/shared/types';
import { replicateClaim, runPrediction, watchLateCommits } from '../../src/workflows';
import { timeSkippingPerTest } from './env';
import { job } from './fakes';

const t = timeSkippingPerTest();

/** A failed create attempt as the activity throws it. */
function createFailure(type: string, outcome: CreateOutcome | undefined, retryAfterMs: number | null = null) {
  return ApplicationFailure.create({
    type,
    message: `create failed (${type})`,
    nonRetryable: false,
    details: [
      {
        httpStatus: null,
        detail: null,
        invalidFields: null,
        retryAfterMs,
        ...(outcome ? { createOutcome: outcome } : {}),
      },
    ],
  });
}
const rateLimited = () => createFailure('ReplicateRateLimited', 'not-created', 1_000);
const serverError = () => createFailure('ReplicateServerError', 'may-have-committed');

/** Another run's claim of `jobId` (it only has to exist: ended at once, so no worker need run it). */
async function claimedByATwin(jobId: string): Promise<void> {
  const claim = await t.env.client.workflow.start(replicateClaim, {
    taskQueue: `nobody-${randomUUID()}`,
    workflowId: claimWorkflowId(jobId),
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    args: [{ jobId, kind: 'prediction', owner: 'the-twin' }],
  });
  await claim.terminate('a claim needs only to exist');
}

type Fakes = Pick<Activities, 'createPrediction' | 'getPrediction' | 'cancelPrediction' | 'findOwnJobs'>;

/** Replicate scripted per create attempt; every call recorded. Jobs succeed at their first poll. */
function scripted(
  attempts: ((n: number) => PredictionSnapshot | Error)[],
  found: (n: number) => PredictionSnapshot[] = () => [],
) {
  // job ids are unique per test: claims live in the test server for the whole file
  const prefix = randomUUID().slice(0, 8);
  const calls = {
    creates: 0,
    searches: [] as FindOwnJobsArgs[],
    cancels: [] as string[],
    gets: [] as string[],
  };
  /** every job id the fake handed out: the run may have claimed any of them */
  const seen = new Set<string>();
  const activities: Fakes = {
    async createPrediction() {
      const n = ++calls.creates;
      const outcome = (attempts[n - 1] ?? (() => job(`${prefix}-${n}`, 'starting')))(n);
      if (outcome instanceof Error) throw outcome;
      seen.add(outcome.id);
      return outcome;
    },
    async findOwnJobs(args) {
      calls.searches.push(args);
      // as the real activity: never what it was told to leave out
      const jobs = found(calls.searches.length).filter((j) => !args.exclude?.includes(j.id));
      for (const j of jobs) seen.add(j.id);
      return jobs;
    },
    async getPrediction(id) {
      calls.gets.push(id);
      return job(id, 'succeeded');
    },
    async cancelPrediction(id) {
      calls.cancels.push(id);
      return job(id, 'canceled');
    },
  };
  return { calls, activities, id: (n: number) => `${prefix}-${n}`, seen };
}

async function run(
  { activities }: { activities: Fakes },
  request: Partial<PredictionRequest> = {},
  after: (workflowId: string) => Promise<void> = async () => {},
) {
  const taskQueue = `create-${randomUUID()}`;
  const worker = await Worker.create({
    connection: t.env.nativeConnection,
    taskQueue,
    workflowBundle: t.workflowBundle,
    activities,
  });
  const workflowId = `create-${randomUUID()}`;
  return worker.runUntil(async () => {
    const handle = await t.env.client.workflow.start(runPrediction, {
      taskQueue,
      workflowId,
      workflowExecutionTimeout: '10m',
      args: [{ model: 'acme/model', input: { prompt: 'x' }, searchAttributes: false, ...request }],
    });
    const outcome = await handle.result().then(
      (result) => ({ result, error: undefined }),
      (error: unknown) => ({ result: undefined, error }),
    );
    await after(workflowId);
    // A late-commit watch outlives its run; left without a worker it would hold the test server's clock.
    const { runId } = await handle.describe();
    await t.env.client.workflow
      .getHandle(`replicate-late-commits:${workflowId}:${runId}`)
      .terminate('test over')
      .catch(() => undefined);
    return { ...outcome, handle, workflowId };
  });
}

describe('a failed attempt that provably created nothing', () => {
  it('a 429: retried after its delay, with no search for a lost job', async () => {
    const fake = scripted([() => rateLimited(), () => rateLimited()]);
    const { result } = await run(fake);
    expect(result?.id).toBe(fake.id(3));
    expect(result?.adopted).toBe(false);
    expect(fake.calls.creates).toBe(3);
    expect(fake.calls.searches).toEqual([]);
  });

  it('a 429 storm outlasts eight attempts; only the deadline would end it', async () => {
    const fake = scripted(Array.from({ length: 12 }, () => () => rateLimited()));
    const { result } = await run(fake);
    expect(result?.id).toBe(fake.id(13));
    expect(fake.calls.creates).toBe(13);
    expect(fake.calls.searches).toEqual([]);
  });
});

describe('a failed attempt that may have committed', () => {
  it('the next attempt searches first and adopts the job it finds, by claiming it', async () => {
    const lost = job('lost-1', 'processing');
    const fake = scripted([() => serverError()], () => [lost]);
    const { result, workflowId } = await run(fake);
    expect(result).toMatchObject({ id: 'lost-1', adopted: true });
    expect(fake.calls.creates).toBe(1); // no second paid create
    expect(fake.calls.searches[0]!.exclude).toEqual([]); // then the late-commit watch looks too
    const claim = await t.env.client.workflow.getHandle(claimWorkflowId('lost-1')).result();
    expect(claim).toEqual({ jobId: 'lost-1', kind: 'prediction', owner: workflowId });
  });

  it('a job another run claimed first is theirs: skipped, and the run creates its own', async () => {
    // a twin already took `twin-job`
    await claimedByATwin('twin-job');
    const fake = scripted([() => serverError()], () => [job('twin-job', 'processing')]);
    const { result } = await run(fake);
    expect(result).toMatchObject({ id: fake.id(2), adopted: false });
    expect(fake.calls.creates).toBe(2);
    expect(fake.calls.cancels).not.toContain('twin-job');
  });

  it('a job the run created but a twin claimed first: the run creates another', async () => {
    await claimedByATwin('stolen-1');
    const fake = scripted([() => job('stolen-1', 'starting')]);
    const { result } = await run(fake);
    expect(result?.id).toBe(fake.id(2));
    expect(fake.calls.cancels).toEqual([]); // never touches the twin's job
  });

  it('a timeout of the attempt itself (no answer, no details) counts as may-have-committed', async () => {
    const fake = scripted([() => createFailure('ReplicateNetworkError', undefined)], () => [
      job('lost-2', 'processing'),
    ]);
    const { result } = await run(fake);
    expect(result).toMatchObject({ id: 'lost-2', adopted: true });
  });

  it('gives up at attempt 8 when every attempt fails with a 5xx', async () => {
    const fake = scripted(Array.from({ length: 20 }, () => () => serverError()));
    const { error } = await run(fake);
    expect(String((error as { cause?: { message?: string } }).cause?.message)).toMatch(
      /ReplicateServerError/,
    );
    expect(fake.calls.creates).toBe(8);
    // before every attempt after the first (the late-commit watch's own searches name the run they watch for)
    expect(fake.calls.searches.filter((s) => s.workflowId === undefined)).toHaveLength(7);
  });
});

describe('the late-commit watch', () => {
  it('claims and cancels a create Replicate committed after the run took another job; the run does not wait', async () => {
    // attempt 1 may have committed; attempt 2 creates p-2. The lost attempt's job appears at the watch's 2nd look.
    const late = job('late-1', 'processing');
    const fake = scripted([() => serverError()], (n) => (n >= 3 ? [late] : []));
    let report: { canceled: string[] } | undefined;
    let watchClosed = 0;
    const { result, workflowId, handle } = await run(fake, { lateCommitWindowMs: 60_000 }, async (id) => {
      const { runId } = await t.env.client.workflow.getHandle(id).describe();
      // the watch is a child that outlives the run
      const watch = t.env.client.workflow.getHandle<typeof watchLateCommits>(
        `replicate-late-commits:${id}:${runId}`,
      );
      report = await watch.result();
      watchClosed = (await watch.describe()).closeTime!.getTime();
    });
    expect(result?.id).toBe(fake.id(2));
    expect(report?.canceled).toEqual(['late-1']);
    expect(fake.calls.cancels).toEqual(['late-1']);
    expect(fake.calls.searches.slice(1).every((s) => s.exclude?.includes(fake.id(2)))).toBe(true);
    const claim = await t.env.client.workflow.getHandle(claimWorkflowId('late-1')).result();
    expect(claim).toMatchObject({ owner: workflowId });
    const closed = (await handle.describe()).closeTime!.getTime();
    expect(watchClosed).toBeGreaterThan(closed);
  });
});
