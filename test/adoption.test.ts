/**
 * `findOwnJobs` against the simulator (no Temporal server): after attempts that may have committed, it returns the
 * predictions those attempts made (committed late too), best first, and never a sibling run's whose webhook URL
 * names that run. With lean answers: listings without `deadline`/`webhook` (GET still has them: the same outcome),
 * and listings and GETs without them (nothing tells the copies from the sibling's: all three are candidates, and
 * only a claim decides which one a run takes; the activity touches nothing).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../src/activities';
import type { PredictionSnapshot } from '../src/shared/types';
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
      ? "cannot tell its attempts' copies from a sibling's: all three are candidates, nothing is touched"
      : "finds the copies its attempts made (committed late), never the sibling's, and touches nothing",
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
        { workflowExecution: { workflowId: 'run-1', runId: 'r1' }, startToCloseTimeoutMs: 120_000 },
        { logger: new DefaultLogger('ERROR') },
      );
      const found: PredictionSnapshot[] = await env.run(activities.findOwnJobs, {
        kind: 'prediction' as const,
        model: 'sim/never',
        input: { prompt: 'same' },
        cancelAt: new Date(cancelAtMs).toISOString(),
        since: new Date(now - 80_000).toISOString(),
        exclude: [],
      });

      // the activity only reads: nothing created, nothing canceled
      expect(sim.predictionIds()).toHaveLength(3);
      for (const id of [first, second, sibling]) expect(sim.counters(id).cancels).toBe(0);
      if (mode === 'list-and-get') {
        expect(found.map((p) => p.id).sort()).toEqual([first, second, sibling].sort());
        return;
      }
      // 'list': the listing lacks deadline and webhook, each match is read once with GET, which has them.
      expect(sim.requests.filter((r) => r.route === 'predictions.get')).toHaveLength(mode === 'list' ? 3 : 0);
      // oldest first (both running); the sibling's webhook names run-2: never a candidate
      expect(found.map((p) => p.id)).toEqual([first, second]);
      expect(found.every((p) => p.webhook === true)).toBe(true);
    },
  );
});
