/**
 * The webhook handler mounted in a user's own HTTP server: Node's http, Express (with express.raw) and Fastify
 * (raw-buffer content parser). Each mount receives the simulator's signed deliveries and ends a run without a
 * GET; a JSON body already parsed by middleware cannot be verified and is refused with the fix.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebhookHandler, nodeWebhookHandler, type WebhookHandler } from '../../src/webhooks';
import { SECRET_TOKEN, startTestbed, type Testbed } from '../helpers/testbed';

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed();
  bed.sim.setModel('sim/mounted', { startDelayMs: 100, durationMs: 500, output: '$input' });
});
afterAll(async () => {
  await bed?.teardown();
});

const listen = async (server: Server): Promise<string> => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};
const close = (server: Server) => new Promise((resolve) => server.close(resolve));

function handler(): WebhookHandler {
  return createWebhookHandler({
    client: bed.env.client,
    secret: null, // fetched from the (simulated) API with the worker's token
    replicate: { token: SECRET_TOKEN, baseUrl: bed.sim.baseUrl },
    log: () => {},
  });
}

/** One run whose creates ask for webhooks at `base` + `/hooks/replicate`: its result and its API calls. */
async function runThrough(base: string, tag: string) {
  // the worker builds `${WEBHOOK_BASE_URL}/webhooks/replicate?workflow=...`: mount under that path
  return bed.withWorker({ webhook: { baseUrl: base, port: null, secret: null } }, async (taskQueue) => {
    const handle = await bed.start({ model: 'sim/mounted', input: { tag } }, { taskQueue });
    const result = await handle.result();
    const calls = bed.sim.requests.filter((r) => r.predictionId === result.id).map((r) => r.route);
    return { result, calls };
  });
}

describe('mounting the webhook handler', () => {
  it("in Node's http server", async () => {
    const h = handler();
    const listener = nodeWebhookHandler(h);
    const server = createServer((req, res) => void listener(req, res));
    const origin = await listen(server);
    try {
      const { result, calls } = await runThrough(origin, 'http');
      expect(result.output).toEqual({ tag: 'http' });
      expect(calls).toEqual(['models.predictions.create']); // no GET: the webhook ended the run
      expect(h.stats.accepted).toBeGreaterThanOrEqual(1);
    } finally {
      await close(server);
    }
  });

  it('in Express, behind express.raw; a body parsed by express.json is refused with the fix', async () => {
    const h = handler();
    const app = express();
    app.post('/webhooks/replicate', express.raw({ type: 'application/json' }), nodeWebhookHandler(h));
    app.post('/parsed/webhooks/replicate', express.json(), nodeWebhookHandler(h));
    const server = createServer(app);
    const origin = await listen(server);
    try {
      const { result, calls } = await runThrough(origin, 'express');
      expect(result.output).toEqual({ tag: 'express' });
      expect(calls).toEqual(['models.predictions.create']);
      const parsed = await fetch(`${origin}/parsed/webhooks/replicate?workflow=x`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(parsed.status).toBe(400);
      expect(await parsed.json()).toEqual({ error: 'parsed-body' });
    } finally {
      await close(server);
    }
  });

  it('in Fastify, with a raw-buffer content parser and handler.handle()', async () => {
    const h = handler();
    const app = Fastify();
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) =>
      done(null, body),
    );
    app.post<{ Querystring: { workflow?: string }; Body: Buffer }>(
      '/webhooks/replicate',
      async (req, reply) => {
        const answer = await h.handle({
          headers: req.headers,
          body: req.body,
          workflowId: req.query.workflow,
        });
        return reply.code(answer.status).send(answer.body);
      },
    );
    const origin = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const { result, calls } = await runThrough(origin, 'fastify');
      expect(result.output).toEqual({ tag: 'fastify' });
      expect(calls).toEqual(['models.predictions.create']);
      // a forgery is refused the same way in every mount
      const forged = await fetch(`${origin}/webhooks/replicate?workflow=x`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': 'm',
          'webhook-timestamp': '1',
          'webhook-signature': 'v1,x',
        },
        body: '{}',
      });
      expect(forged.status).toBe(401);
    } finally {
      await app.close();
    }
  });
});
