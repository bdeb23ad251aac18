// Over 400 lines on purpose: the signature scheme's vectors and every receiver answer, side by side.
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { newWebhookSecret, signWebhook } from '../../simulator/webhooks';
import { WebhookReceiver, replicateWebhookUrl } from '../../src/webhooks/receiver';
import type { ReceivedWebhook, WebhookReceiverOptions } from '../../src/webhooks/receiver';
import { verifyWebhook } from '../../src/webhooks/verify';
import type { WebhookHeaders } from '../../src/webhooks/verify';

// Published Standard Webhooks test vector (docs/replicate-api.md §7).
const V_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const V_ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const V_TS = 1614265330;
const V_BODY = '{"test": 2432232314}';
const V_SIG = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
const V_NOW = V_TS * 1000;
const MIN = 60_000;

/** A promise the test settles when it chooses (gates instead of sleeps). */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const vectorHeaders = (over: Partial<WebhookHeaders> = {}): WebhookHeaders => ({
  id: V_ID,
  timestamp: String(V_TS),
  signature: V_SIG,
  ...over,
});

describe('verifyWebhook (Standard Webhooks)', () => {
  it('accepts the published test vector, as a string or raw bytes', () => {
    expect(verifyWebhook(vectorHeaders(), V_BODY, V_SECRET, V_NOW)).toEqual({ ok: true });
    expect(verifyWebhook(vectorHeaders(), Buffer.from(V_BODY), V_SECRET, V_NOW)).toEqual({ ok: true });
  });

  it("agrees with the simulator's signWebhook (vector and random messages, non-ASCII bodies)", () => {
    expect(signWebhook(V_SECRET, V_ID, V_TS, V_BODY)).toBe(V_SIG);
    for (let i = 0; i < 20; i++) {
      const secret = newWebhookSecret();
      const id = `msg_${randomBytes(12).toString('base64url')}`;
      const ts = 1_700_000_000 + i * 37;
      const body = JSON.stringify({ id: `p${i}`, logs: `étape ${i} ✓ 🚀`, output: ['x'.repeat(i * 50)] });
      const headers = { id, timestamp: String(ts), signature: signWebhook(secret, id, ts, body) };
      expect(verifyWebhook(headers, Buffer.from(body, 'utf8'), secret, ts * 1000)).toEqual({ ok: true });
      expect(verifyWebhook(headers, body, newWebhookSecret(), ts * 1000)).toEqual({
        ok: false,
        reason: 'bad-signature',
      });
    }
  });

  it('passes when any v1 entry of a space-separated list matches (the second here)', () => {
    const forged = `v1,${randomBytes(32).toString('base64')}`;
    const signature = `${forged} ${V_SIG}`;
    expect(verifyWebhook(vectorHeaders({ signature }), V_BODY, V_SECRET, V_NOW)).toEqual({ ok: true });
    expect(
      verifyWebhook(vectorHeaders({ signature: `${V_SIG} ${forged}` }), V_BODY, V_SECRET, V_NOW),
    ).toEqual({ ok: true });
  });

  it('ignores entries of other versions (v2, no prefix)', () => {
    const mac = V_SIG.slice('v1,'.length);
    const bad = { ok: false, reason: 'bad-signature' };
    expect(verifyWebhook(vectorHeaders({ signature: `v2,${mac}` }), V_BODY, V_SECRET, V_NOW)).toEqual(bad);
    expect(verifyWebhook(vectorHeaders({ signature: mac }), V_BODY, V_SECRET, V_NOW)).toEqual(bad);
    expect(
      verifyWebhook(vectorHeaders({ signature: `v2,${mac} ${V_SIG}` }), V_BODY, V_SECRET, V_NOW),
    ).toEqual({
      ok: true,
    });
  });

  it('rejects a forged signature, a wrong secret, a body changed by one byte, other id or timestamp', () => {
    const bad = { ok: false, reason: 'bad-signature' };
    const forged = `v1,${randomBytes(32).toString('base64')}`;
    expect(verifyWebhook(vectorHeaders({ signature: forged }), V_BODY, V_SECRET, V_NOW)).toEqual(bad);
    expect(verifyWebhook(vectorHeaders(), V_BODY, newWebhookSecret(), V_NOW)).toEqual(bad);
    expect(verifyWebhook(vectorHeaders(), '{"test": 2432232315}', V_SECRET, V_NOW)).toEqual(bad);
    expect(verifyWebhook(vectorHeaders(), `${V_BODY} `, V_SECRET, V_NOW)).toEqual(bad);
    expect(verifyWebhook(vectorHeaders({ id: `${V_ID}x` }), V_BODY, V_SECRET, V_NOW)).toEqual(bad);
    expect(verifyWebhook(vectorHeaders({ timestamp: String(V_TS + 1) }), V_BODY, V_SECRET, V_NOW)).toEqual(
      bad,
    );
    // Non-canonical encodings of the right MAC are not accepted either (text compare, like Svix).
    expect(verifyWebhook(vectorHeaders({ signature: `${V_SIG}A` }), V_BODY, V_SECRET, V_NOW)).toEqual(bad);
    expect(
      verifyWebhook(vectorHeaders({ signature: `${V_SIG.slice(0, -1)}` }), V_BODY, V_SECRET, V_NOW),
    ).toEqual(bad);
  });

  it('fails closed on an empty secret', () => {
    const signature = signWebhook('whsec_', V_ID, V_TS, V_BODY);
    expect(verifyWebhook(vectorHeaders({ signature }), V_BODY, 'whsec_', V_NOW)).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it('rejects timestamps more than 5 min away (past or future) as stale, accepts the boundary', () => {
    const stale = { ok: false, reason: 'stale' };
    expect(verifyWebhook(vectorHeaders(), V_BODY, V_SECRET, V_NOW + 5 * MIN + 1000)).toEqual(stale);
    expect(verifyWebhook(vectorHeaders(), V_BODY, V_SECRET, V_NOW - 5 * MIN - 1000)).toEqual(stale); // from the future
    expect(verifyWebhook(vectorHeaders(), V_BODY, V_SECRET, V_NOW + 5 * MIN)).toEqual({ ok: true });
    expect(verifyWebhook(vectorHeaders(), V_BODY, V_SECRET, V_NOW - 5 * MIN)).toEqual({ ok: true });
    expect(verifyWebhook(vectorHeaders(), V_BODY, V_SECRET, V_NOW - 4 * MIN)).toEqual({ ok: true });
    // custom tolerance
    expect(verifyWebhook(vectorHeaders(), V_BODY, V_SECRET, V_NOW + 2000, 1000)).toEqual(stale);
    expect(verifyWebhook(vectorHeaders(), V_BODY, V_SECRET, V_NOW + 1000, 1000)).toEqual({ ok: true });
    // stale is decided before the signature: an old forged message says stale
    const forged = vectorHeaders({ signature: 'v1,AAAA' });
    expect(verifyWebhook(forged, V_BODY, V_SECRET, V_NOW + 10 * MIN)).toEqual(stale);
  });

  it('rejects non-numeric timestamps', () => {
    for (const timestamp of [
      'abc',
      '1614265330.5',
      '-1614265330',
      ' 1614265330',
      '1e9',
      '0x60380e72',
      '9'.repeat(20),
    ]) {
      expect(verifyWebhook(vectorHeaders({ timestamp }), V_BODY, V_SECRET, V_NOW)).toEqual({
        ok: false,
        reason: 'bad-timestamp',
      });
    }
  });

  it('rejects missing or empty headers', () => {
    for (const key of ['id', 'timestamp', 'signature'] as const) {
      for (const value of [undefined, '']) {
        expect(verifyWebhook(vectorHeaders({ [key]: value }), V_BODY, V_SECRET, V_NOW)).toEqual({
          ok: false,
          reason: 'missing-headers',
        });
      }
    }
  });
});

// ---------------------------------------------------------------- receiver

const SECRET = newWebhookSecret();

interface Reply {
  status: number;
  json: Record<string, unknown>;
  headers: Headers;
}

interface PostOptions {
  workflow?: string | null; // null = no query at all
  id?: string;
  ts?: number;
  body?: string;
  secret?: string;
  headers?: Record<string, string | undefined>;
}

const newId = (): string => `msg_${randomBytes(12).toString('base64url')}`;

describe('WebhookReceiver', () => {
  const receivers: WebhookReceiver[] = [];
  afterEach(async () => {
    await Promise.all(receivers.splice(0).map((r) => r.stop()));
  });

  async function setup(extra: Partial<WebhookReceiverOptions> = {}) {
    const delivered: ReceivedWebhook[] = [];
    const logs: { line: string; fields?: Record<string, unknown> }[] = [];
    const state = { failNext: 0 };
    const clock = { t: Date.now() };
    const receiver = new WebhookReceiver({
      port: 0,
      secret: SECRET,
      deliver: (w) => {
        if (state.failNext-- > 0) return Promise.reject(new Error('signal failed: workflow not found'));
        delivered.push(w);
        return Promise.resolve();
      },
      now: () => clock.t,
      log: (line, fields) => logs.push({ line, ...(fields ? { fields } : {}) }),
      ...extra,
    });
    receivers.push(receiver);
    const origin = await receiver.start();
    const post = async (o: PostOptions = {}): Promise<Reply> => {
      const id = o.id ?? newId();
      const ts = o.ts ?? Math.floor(clock.t / 1000);
      const body =
        o.body ?? JSON.stringify({ id: 'pred-1', status: 'succeeded', output: ['https://x/y.png'] });
      const url =
        o.workflow === null
          ? `${origin}/webhooks/replicate`
          : replicateWebhookUrl(origin, o.workflow ?? 'wf-1');
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(ts),
        'webhook-signature': signWebhook(o.secret ?? SECRET, id, ts, body),
      };
      for (const [k, v] of Object.entries(o.headers ?? {})) {
        if (v === undefined) delete headers[k];
        else headers[k] = v;
      }
      const res = await fetch(url, { method: 'POST', headers, body });
      const text = await res.text();
      return { status: res.status, json: JSON.parse(text) as Record<string, unknown>, headers: res.headers };
    };
    return { receiver, origin, delivered, logs, state, clock, post };
  }

  it('accepts a signed delivery: 200, deliver called once with workflowId, webhookId and the parsed body', async () => {
    const { receiver, delivered, post, origin } = await setup();
    const body = JSON.stringify({ id: 'pred-1', status: 'succeeded', logs: 'ok ✓' });
    const reply = await post({ id: 'msg_1', body, workflow: 'run prediction/ä 1' });
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({ ok: true });
    expect(reply.headers.get('content-type')).toBe('application/json');
    expect(delivered).toEqual([
      { workflowId: 'run prediction/ä 1', webhookId: 'msg_1', body: JSON.parse(body) },
    ]);
    expect(receiver.stats).toEqual({ accepted: 1, duplicates: 0, late: 0, rejected: {} });
    expect(origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('verifies the raw bytes: an equivalent but re-formatted JSON body does not pass', async () => {
    const { delivered, post, clock } = await setup();
    const id = newId();
    const ts = Math.floor(clock.t / 1000);
    const reply = await post({
      id,
      ts,
      body: '{"status":"succeeded"}',
      headers: { 'webhook-signature': signWebhook(SECRET, id, ts, '{"status": "succeeded"}') },
    });
    expect(reply.status).toBe(401);
    expect(delivered).toHaveLength(0);
  });

  it('answers 401 with a short reason and never delivers: forged, wrong secret, stale, missing headers', async () => {
    const { receiver, delivered, post, logs, clock } = await setup();
    const forged = await post({
      headers: { 'webhook-signature': `v1,${randomBytes(32).toString('base64')}` },
    });
    expect([forged.status, forged.json]).toEqual([401, { error: 'bad-signature' }]);
    const wrongSecret = await post({ secret: newWebhookSecret() });
    expect([wrongSecret.status, wrongSecret.json]).toEqual([401, { error: 'bad-signature' }]);
    const stale = await post({ ts: Math.floor((clock.t - 5 * MIN - 1000) / 1000) });
    expect([stale.status, stale.json]).toEqual([401, { error: 'stale' }]);
    const future = await post({ ts: Math.floor((clock.t + 6 * MIN) / 1000) });
    expect([future.status, future.json]).toEqual([401, { error: 'stale' }]);
    const badTs = await post({ headers: { 'webhook-timestamp': 'yesterday' } });
    expect([badTs.status, badTs.json]).toEqual([401, { error: 'bad-timestamp' }]);
    for (const h of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const missing = await post({ headers: { [h]: undefined } });
      expect([missing.status, missing.json]).toEqual([401, { error: 'missing-headers' }]);
    }
    expect(delivered).toHaveLength(0);
    expect(receiver.stats).toEqual({
      accepted: 0,
      duplicates: 0,
      late: 0,
      rejected: { 'bad-signature': 2, stale: 2, 'bad-timestamp': 1, 'missing-headers': 3 },
    });
    // one log line per rejection, with the reason; never the secret or the body
    expect(logs).toHaveLength(8);
    expect(logs.map((l) => l.fields?.reason)).toEqual([
      'bad-signature',
      'bad-signature',
      'stale',
      'stale',
      'bad-timestamp',
      'missing-headers',
      'missing-headers',
      'missing-headers',
    ]);
    const logged = JSON.stringify(logs);
    expect(logged).not.toContain(SECRET.slice('whsec_'.length));
    expect(logged).not.toContain('pred-1');
    expect(logged).not.toContain('https://x/y.png');
  });

  it('answers a replay of an accepted id with 200 {duplicate:true} and no second deliver, on any workflow', async () => {
    const { receiver, delivered, post } = await setup();
    expect((await post({ id: 'msg_dup' })).json).toEqual({ ok: true });
    const again = await post({ id: 'msg_dup' });
    expect([again.status, again.json]).toEqual([200, { duplicate: true }]);
    // the workflow id is not signed: re-posting a captured delivery to another workflow is still a replay
    const elsewhere = await post({ id: 'msg_dup', workflow: 'someone-else' });
    expect([elsewhere.status, elsewhere.json]).toEqual([200, { duplicate: true }]);
    expect(delivered).toHaveLength(1);
    expect(receiver.stats).toMatchObject({ accepted: 1, duplicates: 2, rejected: {} });
  });

  it('forgets ids after the replay window, and evicts the oldest beyond the bound', async () => {
    const { delivered, post, clock } = await setup({ replayWindowMs: 10 * MIN, replayMaxEntries: 2 });
    await post({ id: 'msg_a' });
    clock.t += 10 * MIN + 1;
    expect((await post({ id: 'msg_a' })).json).toEqual({ ok: true }); // window over: a new delivery
    await post({ id: 'msg_b' });
    await post({ id: 'msg_c' }); // evicts msg_a
    expect((await post({ id: 'msg_c' })).json).toEqual({ duplicate: true });
    expect((await post({ id: 'msg_a' })).json).toEqual({ ok: true });
    expect(delivered.map((d) => d.webhookId)).toEqual(['msg_a', 'msg_a', 'msg_b', 'msg_c', 'msg_a']);
  });

  it('answers 503 when deliver fails and does not remember the id: the retry is accepted', async () => {
    const { receiver, delivered, post, state, logs } = await setup();
    state.failNext = 1;
    const first = await post({ id: 'msg_retry' });
    expect([first.status, first.json]).toEqual([503, { error: 'deliver-failed' }]);
    expect(delivered).toHaveLength(0);
    const retry = await post({ id: 'msg_retry' });
    expect([retry.status, retry.json]).toEqual([200, { ok: true }]);
    expect(delivered.map((d) => d.webhookId)).toEqual(['msg_retry']);
    expect(receiver.stats).toEqual({
      accepted: 1,
      duplicates: 0,
      late: 0,
      rejected: { 'deliver-failed': 1 },
    });
    expect(logs[0]?.fields).toMatchObject({
      reason: 'deliver-failed',
      webhookId: 'msg_retry',
      workflowId: 'wf-1',
    });
  });

  it('delivers concurrent copies of one id once: the second waits for the first and answers duplicate', async () => {
    const firstDelivering = deferred();
    const secondInHandler = deferred();
    const release = deferred();
    let delivering = false;
    const calls: string[] = [];
    const { receiver, post } = await setup({
      deliver: async (w) => {
        calls.push(w.webhookId);
        delivering = true;
        firstDelivering.resolve();
        await release.promise;
      },
      // the handler reads the clock to verify a delivery: a read while the first copy is in deliver is the second
      // copy, which then goes straight on to wait for the first (no await in between)
      now: () => {
        if (delivering) secondInHandler.resolve();
        return Date.now();
      },
    });
    const first = post({ id: 'msg_same' });
    await firstDelivering.promise;
    const second = post({ id: 'msg_same' });
    await secondInHandler.promise;
    release.resolve();
    expect((await first).json).toEqual({ ok: true });
    expect((await second).json).toEqual({ duplicate: true });
    expect(calls).toEqual(['msg_same']);
    expect(receiver.stats).toMatchObject({ accepted: 1, duplicates: 1 });
  });

  it('answers 413 to an oversized body without delivering (declared length and chunked)', async () => {
    const { receiver, delivered, post, origin, clock } = await setup({ maxBodyBytes: 1024 });
    const big = JSON.stringify({ output: 'x'.repeat(4096) });
    const reply = await post({ body: big });
    expect([reply.status, reply.json]).toEqual([413, { error: 'too-large' }]);
    expect((await post({ body: JSON.stringify({ output: 'x'.repeat(900) }) })).status).toBe(200);

    // chunked: no content-length, counted while reading
    const id = newId();
    const ts = Math.floor(clock.t / 1000);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        replicateWebhookUrl(origin, 'wf-1'),
        {
          method: 'POST',
          headers: {
            'transfer-encoding': 'chunked',
            'webhook-id': id,
            'webhook-timestamp': String(ts),
            'webhook-signature': signWebhook(SECRET, id, ts, big),
          },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.write(big.slice(0, 512));
      req.write(big.slice(512, 2048));
      req.end(big.slice(2048));
    });
    expect(status).toBe(413);
    expect(delivered).toHaveLength(1);
    expect(receiver.stats.rejected).toEqual({ 'too-large': 2 });
  });

  it('answers 400 without a workflow param (after the signature check) and for invalid JSON', async () => {
    const { receiver, delivered, post } = await setup();
    const none = await post({ workflow: null });
    expect([none.status, none.json]).toEqual([400, { error: 'missing-workflow' }]);
    const empty = await post({ workflow: '' });
    expect([empty.status, empty.json]).toEqual([400, { error: 'missing-workflow' }]);
    // unsigned and without workflow: the signature is checked first
    expect((await post({ workflow: null, headers: { 'webhook-signature': 'v1,AAAA' } })).status).toBe(401);
    const notJson = await post({ body: '{"status": "succ' });
    expect([notJson.status, notJson.json]).toEqual([400, { error: 'bad-json' }]);
    expect(delivered).toHaveLength(0);
    expect(receiver.stats.rejected).toEqual({ 'missing-workflow': 2, 'bad-signature': 1, 'bad-json': 1 });
  });

  it('answers 404 elsewhere and 405 for another method on the webhook path', async () => {
    const { receiver, origin } = await setup();
    const get = await fetch(`${origin}/webhooks/replicate?workflow=wf-1`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    await get.arrayBuffer();
    const other = await fetch(`${origin}/webhooks/other`, { method: 'POST', body: '{}' });
    expect(other.status).toBe(404);
    await other.arrayBuffer();
    expect(receiver.stats.rejected).toEqual({ 'method-not-allowed': 1, 'not-found': 1 });
  });

  it('fetches a secret given as an async function once, caching it after the first success', async () => {
    let calls = 0;
    const { delivered, post } = await setup({
      secret: async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 20));
        if (calls === 1) throw new Error('secret endpoint down');
        return SECRET;
      },
    });
    const down = await post({ id: 'msg_s0' });
    expect([down.status, down.json]).toEqual([503, { error: 'secret-unavailable' }]);
    const replies = await Promise.all([post(), post(), post()]);
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
    expect((await post({ id: 'msg_s0' })).status).toBe(200);
    expect(calls).toBe(2); // one failure, then one success shared by the concurrent requests and cached
    expect(delivered).toHaveLength(4);
  });

  it('stops promptly with a request still waiting on deliver', async () => {
    const inDeliver = deferred();
    const { receiver, post } = await setup({
      deliver: () => {
        inDeliver.resolve();
        return new Promise<void>(() => undefined); // never settles
      },
    });
    const hanging = post().catch((err: unknown) => err);
    await inDeliver.promise;
    const t0 = Date.now();
    await receiver.stop();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await hanging).toBeInstanceOf(Error);
  });
});
