/** The typed client helpers (`replicate-temporal/client`) against a real server, a worker and the simulator. */
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cancelPrediction,
  pipelineOutcome,
  predict,
  predictionOutcome,
  startPipeline,
  startPrediction,
  watchPipeline,
  watchPrediction,
  type PipelineResult,
  type PredictionState,
} from '../../src/client';
import type { PipelineSpec } from '../../src/shared/pipeline';
import { ReplicateModel, SEARCH_ATTRIBUTES } from '../../src/shared/search-attributes';
import { FAST_POLLING, startTestbed, type Testbed } from '../helpers/testbed';

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed();
  bed.sim.setModel('helpers/ok', { startDelayMs: 100, durationMs: 800, output: { text: 'hello' } });
  bed.sim.setModel('helpers/fail', { startDelayMs: 50, durationMs: 100, outcome: 'failed', error: 'boom' });
  bed.sim.setModel('helpers/never', { startDelayMs: 50, outcome: 'never' });
});
afterAll(async () => {
  await bed?.teardown();
});

const where = () => ({ taskQueue: bed.config.taskQueue, timeout: '1m' });

describe('predictions', () => {
  it('start, watch (states until a terminal one), outcome', async () => {
    const client = bed.env.client;
    const handle = await startPrediction(
      client,
      { model: 'helpers/ok', input: { prompt: 'hi' }, polling: FAST_POLLING },
      { ...where(), workflowId: `helpers-ok-${Date.now()}` },
    );
    const states: PredictionState[] = [];
    for await (const state of watchPrediction(handle, { intervalMs: 50 })) states.push(state);

    const last = states.at(-1)!;
    expect(last.status).toBe('succeeded');
    expect(states.slice(0, -1).every((s) => s.status !== 'succeeded')).toBe(true); // ends at the first terminal state
    expect(states.some((s) => s.status === 'processing' || s.status === 'starting')).toBe(true);
    expect(last.predictionId).toMatch(/^[a-z0-9]{26}$/);

    const summary = await predictionOutcome(handle);
    expect(summary).toMatchObject({
      workflowId: handle.workflowId,
      predictionId: last.predictionId,
      status: 'succeeded',
      output: { text: 'hello' },
      error: null,
    });
    expect(summary.metrics).not.toBeNull();
    expect(bed.sim.prediction(last.predictionId!)!.status).toBe('succeeded');
  });

  it('predict starts and waits; a failed prediction is an outcome, not an exception', async () => {
    const summary = await predict(
      bed.env.client,
      { model: 'helpers/fail', input: {}, polling: FAST_POLLING },
      where(),
    );
    expect(summary.status).toBe('failed');
    expect(summary.workflowId).toMatch(/^prediction-helpers-fail-[0-9a-f]{8}$/);
    expect(summary.error).toMatchObject({ type: 'PredictionFailed' });
    expect(summary.error!.message).toContain('boom');
    expect(bed.sim.prediction(summary.predictionId!)!.status).toBe('failed');
  });

  it('an invalid request or ceiling is refused before anything starts', async () => {
    await expect(
      startPrediction(bed.env.client, { model: 'not a model', input: {} }, where()),
    ).rejects.toThrow(TypeError);
    await expect(
      startPrediction(bed.env.client, { model: 'helpers/ok', input: {} }, { ...where(), timeout: '5s' }),
    ).rejects.toThrow(/out of range/);
  });

  it('cancelPrediction cancels the prediction at Replicate; a watch ends when its signal aborts', async () => {
    const client = bed.env.client;
    const handle = await startPrediction(
      client,
      { model: 'helpers/never', input: {}, polling: FAST_POLLING },
      where(),
    );
    const id = (await bed.sim.waitFor((p) => p.model === 'helpers/never' && p.status === 'processing')).id;

    const stop = new AbortController();
    const seen: PredictionState[] = [];
    for await (const state of watchPrediction(handle, { intervalMs: 50, signal: stop.signal })) {
      seen.push(state);
      stop.abort(); // nothing more is yielded
    }
    expect(seen).toHaveLength(1);

    const canceled = await cancelPrediction(client, handle.workflowId);
    const summary = await predictionOutcome(canceled);
    expect(summary).toMatchObject({ status: 'canceled', predictionId: id });
    expect(bed.sim.prediction(id)!.status).toBe('canceled');
    expect(bed.sim.counters(id).cancels).toBe(1);
  });
});

describe('pipelines', () => {
  it('start, watch until it closes, outcome', async () => {
    const spec: PipelineSpec = {
      name: 'helpers',
      inputs: {},
      failure: 'fail-fast',
      steps: { only: { model: 'helpers/ok', input: { prompt: 'hi' } } },
    };
    const handle = await startPipeline(bed.env.client, { spec, inputs: {} }, where());
    expect(handle.workflowId).toMatch(/^pipeline-helpers-[0-9a-f]{8}$/);

    const progress: PipelineResult[] = [];
    for await (const p of watchPipeline(handle, { intervalMs: 100 })) progress.push(p);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)!.steps.only!.status).toBe('succeeded');

    const summary = await pipelineOutcome(handle);
    expect(summary).toMatchObject({ pipelineId: handle.workflowId, status: 'succeeded', error: null });
    expect(summary.steps.only).toMatchObject({ status: 'succeeded', outputs: [{ text: 'hello' }] });
    expect(summary.steps.only!.predictionIds).toHaveLength(1);
    expect(bed.sim.prediction(summary.steps.only!.predictionIds[0]!)!.status).toBe('succeeded');
  });
});

/**
 * A namespace that has never seen our worker: no `Replicate*` search attributes. A run that upserts them there
 * would fail every workflow task (BadSearchAttributes) and hang; the helpers register them first, or start the run
 * without them when the server refuses (no operator permission).
 */
describe('on a fresh server (our search attributes not registered)', () => {
  let fresh: Testbed;
  beforeAll(async () => {
    fresh = await startTestbed({}, { searchAttributes: false });
  });
  afterAll(async () => {
    await fresh?.teardown();
  });
  const onFresh = () => ({ taskQueue: fresh.config.taskQueue, timeout: '1m' });
  const registered = async () =>
    Object.keys(
      (
        await fresh.env.connection.operatorService.listSearchAttributes({
          namespace: fresh.config.namespace,
        })
      ).customAttributes ?? {},
    );
  /** A client whose server refuses to register search attributes, as a namespace without operator rights does. */
  async function refusingClient(): Promise<Client> {
    const connection = await Connection.connect({ address: fresh.config.address });
    const refuse = () =>
      Promise.reject(Object.assign(new Error('7 PERMISSION_DENIED: Request unauthorized.'), { code: 7 }));
    Object.defineProperty(connection, 'operatorService', {
      value: Object.assign(Object.create(connection.operatorService), { addSearchAttributes: refuse }),
    });
    return new Client({ connection, namespace: fresh.config.namespace });
  }

  it('when registering is refused, predict and startPipeline run without them (one warning, no hang)', async () => {
    const warnings: string[] = [];
    const client = await refusingClient();
    const summary = await predict(
      client,
      { model: 'sim/echo', input: { prompt: 'hi' }, polling: FAST_POLLING },
      { ...onFresh(), onWarning: (line) => warnings.push(line) },
    );
    expect(summary.status).toBe('succeeded');
    const spec: PipelineSpec = {
      name: 'fresh',
      inputs: {},
      failure: 'fail-fast',
      steps: { only: { model: 'sim/echo', input: { prompt: 'hi' } } },
    };
    const pipeline = await pipelineOutcome(
      await startPipeline(client, { spec }, { ...onFresh(), onWarning: (line) => warnings.push(line) }),
    );
    expect(pipeline.status).toBe('succeeded');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cannot register search attributes .*PERMISSION_DENIED.*without them/);
    expect(await registered()).not.toContain('ReplicateModel');
    await client.connection.close();
  });

  it('predict registers them first (idempotent) and the run can be found by them', async () => {
    expect(await registered()).not.toContain('ReplicateModel');
    const summary = await predict(
      fresh.env.client,
      { model: 'sim/echo', input: { prompt: 'hi' }, polling: FAST_POLLING },
      onFresh(),
    );
    expect(summary.status).toBe('succeeded');
    expect(await registered()).toEqual(expect.arrayContaining(SEARCH_ATTRIBUTES.map((key) => key.name)));
    const described = await fresh.env.client.workflow.getHandle(summary.workflowId).describe();
    expect(described.typedSearchAttributes.get(ReplicateModel)).toBe('sim/echo');
  });
});
