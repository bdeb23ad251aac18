import { afterAll, beforeAll, it } from 'vitest';
import { runCli } from '../../src/client';
import { ReplicateSimulator } from '../../src/simulator';
import type { PredictionRequest } from '../../src/shared/types';
import { FAST_POLLING, SECRET_TOKEN, failureOf, startTestbed, type Testbed } from '../helpers/testbed';

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed();
});
afterAll(async () => {
  await bed?.teardown();
});
async function cli(argv: string[], taskQueue = bed.config.taskQueue) {
  const out: string[] = [];
  const err: string[] = [];
  const t = Date.now();
  try {
    const code = await runCli(argv, { client: async () => bed.env.client, taskQueue, out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out, err, ms: Date.now() - t };
  } catch (e) {
    return { threw: String(e), ms: Date.now() - t };
  }
}
async function wf(request: unknown, opts = {}) {
  const seen = bed.sim.requests.length;
  const t = Date.now();
  const h = await bed.start(request as PredictionRequest, { workflowExecutionTimeout: '20s', ...opts });
  try {
    const { failure } = await failureOf(h);
    return { type: failure.type, msg: failure.message, nr: failure.nonRetryable, ms: Date.now() - t, sim: bed.sim.requests.slice(seen).map((r) => `${r.route} ${r.status}`) };
  } catch (e) {
    return { err: String(e), ms: Date.now() - t, sim: bed.sim.requests.slice(seen).map((r) => `${r.route} ${r.status}`) };
  }
}
it('probe', async () => {
  const r: Record<string, unknown> = {};
  r.emptyWfId = await cli(['run', '--model', 'sim/echo', '--input', '{}', '--workflow-id', '', '--json']);
  r.longWfId = await cli(['run', '--model', 'sim/echo', '--input', '{}', '--workflow-id', 'x'.repeat(2000), '--json']);
  r.extraProp = await cli(['run', '--model', 'sim/echo', '--input', '{"prompt":"x","colour":"red"}', '--json']);
  r.notfound = await cli(['run', '--model', 'nobody/nothing', '--input', '{}', '--json']);
  r.resumeGarbage = await wf({ model: 'sim/echo', input: {}, resume: 'garbage', polling: FAST_POLLING });
  r.resumeObj = await wf({ model: 'sim/echo', input: {}, resume: { job: { id: 'nope', status: 'processing', urls: {}, logsTail: [] }, polls: 0, startedAt: new Date().toISOString(), runs: 0 }, polling: FAST_POLLING });
  r.pollingArray = await wf({ model: 'sim/echo', input: {}, polling: [] });
  r.maxOnly = await wf({ model: 'sim/never', input: {}, polling: { maxIntervalMs: 200 } }, { workflowExecutionTimeout: '12s' });
  r.nan = await wf({ model: 'sim/echo', input: {}, polling: { initialIntervalMs: NaN } });
  r.shortTimeout = await wf({ model: 'sim/echo', input: {} }, { workflowExecutionTimeout: '5s' });
  r.bigMargin = await wf({ model: 'sim/echo', input: {}, deadlineMarginMs: 3_600_000 });
  r.nullReq = await wf(null);
  const small = new ReplicateSimulator({ token: SECRET_TOKEN, maxBodyBytes: 1000 });
  await small.start();
  r.small = await bed.withWorker({ replicateBaseUrl: small.baseUrl }, async (tq) => {
    const x = await wf({ model: 'sim/echo', input: { prompt: 'x'.repeat(2000) } }, { taskQueue: tq });
    return { ...x, smallSim: small.requests.map((q) => `${q.route} ${q.status}`) };
  });
  await small.stop();
  console.log(JSON.stringify(r, null, 1));
}, 120_000);
