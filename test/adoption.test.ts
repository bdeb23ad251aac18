/**
 * Adoption inside the create activity, against the simulator (no Temporal server): a retried create finds the
 * predictions its earlier attempts made after all (committed late), adopts one and cancels the other copies at
 * once; it never touches a sibling run's prediction. Also with lean answers (issue 14): listings without
 * `deadline`/`webhook` (GET still has them: the same outcome), and listings and GETs without them (nothing tells
 * the copies from the sibling's: adopt none, cancel none, create anew).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../src/activities';
import { ReplicateSimulator, type LeanMode } from '../simulator';

const TOKEN = 'adoption-test-token';
const sims = new Map<LeanMode | 'full', ReplicateSimulator>(
  (['full', 'list', 'list-and-get'] as const).map((mode) => [
    mode,
    new ReplicateSimulator({ token: TOKEN, ...(mode === 'full' ? {} : { lean: mode }) }),
  ]),
);
// Webhooks go to a receiver that just acknowledges them.
const hooks: Server = createServer((_req, res) => res.writeHead(204).end());
let hookBase = '';

beforeAll(async () => {
  for (const sim of sims.values()) await sim.start();
  await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
  hookBase = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const sim of sims.values()) await sim.stop();
  await new Promise((resolve) => hooks.close(resolve));
});

const hookFor = (workflowId: string) => `${hookBase}/webhooks/replicate?workflow=${workflowId}`;

/** A create as one of our attempts sent it, committed `lateMs` after it was sent. */
async function sentEarlier(
  sim: ReplicateSimulator,
  workflowId: string,
  cancelAtMs: number,
  lateMs: number,
): Promise<string> {
  const response = await fetch(`${sim.baseUrl}/models/sim/never/predictions`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${TOKEN}`,
      'Content-Type': 'application/json',
      'Cancel-After': `${Math.floor((cancelAtMs - Date.now() + lateMs) / 1000)}s`,
    },
    body: JSON.stringify({
      input: { prompt: 'same' },
      webhook: hookFor(workflowId),
      webhook_events_filter: ['completed'],
    }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

describe.each(['full', 'list', 'list-and-get'] as const)('answers: %s', (mode) => {
  it(
    mode === 'list-and-get'
      ? "a retried create that cannot tell its copies from a sibling's adopts none, cancels none, creates anew"
      : 'a retried create adopts one of the copies its attempts made and cancels the others at once',
    async () => {
      const sim = sims.get(mode)!;
      const now = Date.now();
      const cancelAtMs = now + 10 * 60_000;
      // Attempts 1 and 2 of run-1 both timed out; Replicate committed both, ~20 s after each was sent.
      const first = await sentEarlier(sim, 'run-1', cancelAtMs, 20_000);
      const second = await sentEarlier(sim, 'run-1', cancelAtMs, 21_000);
      // A sibling run with the same model and input, in the same second.
      const sibling = await sentEarlier(sim, 'run-2', cancelAtMs, 0);

      const activities = createActivities({ token: TOKEN, baseUrl: sim.baseUrl, webhookBaseUrl: hookBase });
      const env = new MockActivityEnvironment(
        {
          attempt: 3,
          workflowExecution: { workflowId: 'run-1', runId: 'r1' },
          scheduledTimestampMs: now - 80_000,
          startToCloseTimeoutMs: 40_000,
        },
        { logger: new DefaultLogger('ERROR') },
      );
      const result = await env.run(activities.createPrediction, {
        model: 'sim/never',
        input: { prompt: 'same' },
        cancelAt: new Date(cancelAtMs).toISOString(),
        requestedAt: new Date(now - 80_000).toISOString(),
      });

      if (mode === 'list-and-get') {
        // Model, input and window alone match all three: adopt none, cancel none (the copies are left to their
        // Cancel-After and the reconciler), one new prediction.
        expect(sim.predictionIds()).toHaveLength(4);
        expect(result).toMatchObject({ id: sim.predictionIds()[3] });
        expect(result).not.toMatchObject({ adopted: true });
        for (const id of [first, second, sibling]) expect(sim.counters(id).cancels).toBe(0);
        return;
      }
      // 'list': the listing lacks deadline and webhook, each match is read once with GET, which has them.
      expect(sim.requests.filter((r) => r.route === 'predictions.get')).toHaveLength(mode === 'list' ? 3 : 0);
      // Before the fix: no match (the deadlines are ~20 s late), a 4th prediction, both copies left running.
      expect(sim.predictionIds()).toHaveLength(3);
      expect(result).toMatchObject({ id: first, adopted: true, webhook: true });
      expect(sim.counters(second).cancels).toBe(1);
      expect(sim.prediction(second)!.status).toBe('canceled');
      expect(sim.counters(first).cancels).toBe(0);
      expect(sim.counters(sibling).cancels).toBe(0);
      expect(sim.prediction(sibling)!.status).not.toBe('canceled');
    },
  );
});
