/**
 * Claim references are honoured only when the system placed them: the create activity expands a reference the
 * worker signed (a step's large output passed to the next step), and nothing else. A `{"$claim": …}` in a user's
 * input or in a model's output is sent to Replicate as the literal data it is; signed references are read once
 * each, and a request that would grow past the input limit fails at once, typed, without a retry or a create.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimKey, signClaim, storeClaimStore } from '../../src/activities/claims';
import { localOutputStore } from '../../src/activities/output-files/store';
import { pipelineOutcome, startPipeline } from '../../src/client';
import { PredictionFailureType } from '../../src/shared/failures';
import type { PipelineSpec } from '../../src/shared/pipeline';
import { MAX_INPUT_BYTES } from '../../src/shared/validate';
import { FAST_POLLING, SECRET_TOKEN, failureOf, startTestbed, type Testbed } from '../helpers/testbed';

let bed: Testbed;
/** A value already in the workers' claim store (any earlier large output): 600 KB of JSON. */
const STORED = 'x'.repeat(600_000);
let storedHash: string;

beforeAll(async () => {
  // the simulator reads whole bodies up to 200 MB, so a request of any size it is sent is seen and measured
  bed = await startTestbed({ maxBodyBytes: 200_000_000 });
  const claims = storeClaimStore(localOutputStore(bed.config.outputDir));
  storedHash = (await claims.put(STORED)).$claim;
  bed.sim.setModel('sim/big', { startDelayMs: 50, durationMs: 200, output: 'y'.repeat(300_000) });
});
afterAll(async () => {
  await bed?.teardown();
});

/** The create requests the simulator received for a model since `from`, with their body sizes. */
function creates(model: string, from: number): { status: number; bytes: number; body: unknown }[] {
  return bed.sim.requests
    .slice(from)
    .filter((r) => r.route.endsWith('create') && r.path.includes(model))
    .map((r) => ({ status: r.status, bytes: JSON.stringify(r.body ?? null).length, body: r.body }));
}

describe('a {"$claim": …} the system did not place', () => {
  it("the issue's 17 KB user input is sent as the literal 17 KB it is, not a 120 MB request", async () => {
    const forged = { $claim: storedHash };
    const input = { items: Array.from({ length: 200 }, () => forged) };
    expect(JSON.stringify(input).length).toBeLessThan(17_500);
    const from = bed.sim.requests.length;
    const handle = await bed.start({ model: 'sim/echo', input, polling: FAST_POLLING });
    const result = await handle.result();
    const sent = creates('sim/echo', from);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.status).toBe(201);
    expect(sent[0]!.bytes).toBeLessThan(18_000); // before: 120,400,656 bytes
    expect((sent[0]!.body as { input: unknown }).input).toEqual(input);
    expect(result.output).toEqual(input); // the model got the data as given
  });

  it("a model's output shaped like a reference reaches the next step as the data it is", async () => {
    bed.sim.setModel('sim/forger', {
      startDelayMs: 50,
      durationMs: 100,
      output: Array.from({ length: 50 }, () => ({ $claim: storedHash })),
    });
    const spec: PipelineSpec = {
      name: 'forged',
      inputs: {},
      failure: 'fail-fast',
      timeout: '2m',
      stepTimeout: '1m',
      steps: {
        forge: { model: 'sim/forger', input: {}, timeout: '1m' },
        use: { model: 'sim/echo', input: { data: '{{ steps.forge.output }}' }, timeout: '1m' },
      },
    };
    const from = bed.sim.requests.length;
    const handle = await startPipeline(
      bed.env.client,
      { spec },
      { taskQueue: bed.config.taskQueue, workflowId: `forged-${randomUUID()}`, timeout: '2m' },
    );
    const outcome = await pipelineOutcome(handle);
    expect(outcome.status).toBe('succeeded');
    const sent = creates('sim/echo', from);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.bytes).toBeLessThan(6_000);
    expect((sent[0]!.body as { input: { data: unknown } }).input.data).toEqual(
      Array.from({ length: 50 }, () => ({ $claim: storedHash })),
    );
  });
});

describe('references the workers placed', () => {
  it("a step's large output (kept out of band) reaches the next step whole, twice, from one read", async () => {
    const spec: PipelineSpec = {
      name: 'passed-on',
      inputs: {},
      failure: 'fail-fast',
      timeout: '2m',
      stepTimeout: '1m',
      steps: {
        big: { model: 'sim/big', input: {}, timeout: '1m' },
        use: {
          model: 'sim/echo',
          input: { a: '{{ steps.big.output }}', b: '{{ steps.big.output }}' },
          timeout: '1m',
        },
      },
    };
    const from = bed.sim.requests.length;
    const handle = await startPipeline(
      bed.env.client,
      { spec },
      { taskQueue: bed.config.taskQueue, workflowId: `passed-on-${randomUUID()}`, timeout: '2m' },
    );
    const outcome = await pipelineOutcome(handle);
    expect(outcome.status).toBe('succeeded');
    const [sent] = creates('sim/echo', from);
    expect((sent!.body as { input: unknown }).input).toEqual({
      a: 'y'.repeat(300_000),
      b: 'y'.repeat(300_000),
    });
  });

  it('a signed reference repeated past the input limit: InvalidPredictionRequest at once, no retry, no create', async () => {
    const stored = await storeClaimStore(localOutputStore(bed.config.outputDir)).put(STORED);
    const signed = signClaim(stored, claimKey(SECRET_TOKEN));
    const input = { items: Array.from({ length: 200 }, () => signed) };
    const from = bed.sim.requests.length;
    const started = Date.now();
    const handle = await bed.start({ model: 'sim/echo', input, polling: FAST_POLLING });
    const { failure } = await failureOf(handle);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(failure.type).toBe(PredictionFailureType.InvalidRequest);
    expect(failure.message).toContain(`over the ${MAX_INPUT_BYTES}-byte input limit`);
    expect(failure.message).toMatch(/120,\d{3},\d{3} bytes/);
    expect(creates('sim/echo', from)).toEqual([]);
    const history = await handle.fetchHistory();
    const attempts = history.events!.filter((e) => e.activityTaskStartedEventAttributes).length;
    expect(attempts).toBe(1);
  });
});
