/**
 * The simulator against Replicate's published API: every response it gives (the three create routes, get, cancel,
 * list, trainings, the webhook secret, webhook deliveries, the files routes, errors) is validated against the OpenAPI description's
 * schemas (../shared/reference/replicate-openapi.yaml, $refs resolved by Ajv), and so is every request body our
 * activities send. Failures must be exactly the deviations listed in simulator/deviations.ts: an unlisted one
 * fails, and so does a listed one that no longer occurs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsImport from 'ajv-formats';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import { ReplicateSimulator, defaultVersionFor } from '../../simulator';
import { BEHAVIOUR_DEVIATIONS, DEVIATIONS } from '../../simulator/deviations';
import { PROJECT_ROOT } from '../../src/dev/binaries';
import { TOKEN, clockedSimulator, hookReceiver } from './helpers';

const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;
// Replicate's published OpenAPI description, vendored (simulator/reference/README.md says from where and when).
const SPEC_PATH = path.join(PROJECT_ROOT, 'simulator', 'reference', 'replicate-openapi.yaml');
const spec = parse(readFileSync(SPEC_PATH, 'utf8')) as Record<string, unknown>;
const ajv = addFormats(new Ajv({ strict: false, allErrors: true }));
ajv.addSchema(closed(spec) as object, 'openapi');

/**
 * Every schema that lists its properties is taken as closed (`additionalProperties: false` unless it says
 * otherwise): a key the description does not document is reported too, so that code relying on one (`webhook`,
 * `deadline` on a training) shows up here as a listed deviation with its evidence.
 */
function closed(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(closed);
  if (!node || typeof node !== 'object') return node;
  const copy = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, closed(v)]));
  const props = copy.properties as unknown;
  if (props && typeof props === 'object' && !Array.isArray(props) && !('additionalProperties' in copy)) {
    copy.additionalProperties = false;
  }
  return copy;
}

const pointer = (...parts: string[]) =>
  `openapi#/${parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;
const validators = new Map<string, ValidateFunction>();
function schema(ref: string): ValidateFunction {
  let v = validators.get(ref);
  if (!v) validators.set(ref, (v = ajv.compile({ $ref: ref })));
  return v;
}
const component = (name: string) => pointer('components', 'schemas', name);
const inline = (route: string, method: string, status: string, type = 'application/json') =>
  pointer('paths', route, method, 'responses', status, 'content', type, 'schema');

const PREDICTION = component('schemas_prediction_response');
const TRAINING = component('schemas_training_response');
/** The description's one problem+json schema (the files routes' 404): `{detail: string}`. */
const PROBLEM = inline('/files/{file_id}', 'get', '404', 'application/problem+json');
const SCHEMAS: Record<string, string> = {
  'predictions.create': PREDICTION,
  'models.predictions.create': PREDICTION,
  'deployments.predictions.create': PREDICTION,
  'predictions.get': PREDICTION,
  'predictions.cancel': PREDICTION,
  'predictions.list': PREDICTION, // per result; the page itself is checked against the inline schema below
  'trainings.create': TRAINING,
  'trainings.get': TRAINING,
  'trainings.cancel': TRAINING,
  'trainings.list': TRAINING,
  'webhooks.default.secret.get': inline('/webhooks/default/secret', 'get', '200'),
  'models.versions.get': component('schemas_version_response'),
  'webhook (prediction)': PREDICTION,
  'webhook (training)': TRAINING,
  'files.create': component('schemas_file_response'),
  'files.get': component('schemas_file_response'),
  'files.list': component('schemas_file_response'),
};
const PAGES: Record<string, string> = {
  'predictions.list': inline('/predictions', 'get', '200'),
  'trainings.list': inline('/trainings', 'get', '200'),
  'files.list': inline('/files', 'get', '200'),
};
/** Statuses the description documents per operation. */
const DOCUMENTED: Record<string, number[]> = {
  'predictions.create': [201, 202],
  'models.predictions.create': [200, 201, 202],
  'deployments.predictions.create': [201, 202],
  'trainings.create': [201],
  'files.create': [201, 413],
  'files.get': [200, 404],
  'files.delete': [204, 404],
  'files.download': [200, 404],
};

interface Failure {
  operation: string;
  status: number;
  path: string;
  keyword: string;
  property?: string;
  message?: string;
}
const failures: Failure[] = [];
let validated = 0;
let failedResponses = 0;

function record(operation: string, status: number, errors: ErrorObject[] | null | undefined, base = '') {
  for (const e of errors ?? []) {
    const params = e.params as { missingProperty?: string; additionalProperty?: string };
    const property = params.missingProperty ?? params.additionalProperty;
    failures.push({
      operation,
      status,
      path: (base + e.instancePath).replace(/\/\d+(?=\/|$)/g, '/*'),
      keyword: e.keyword,
      ...(property === undefined ? {} : { property }),
      ...(e.message === undefined ? {} : { message: e.message }),
    });
  }
}

/** Validates one answer of `operation` (a 2xx body, or an error body against the problem schema). */
function check(operation: string, status: number, body: unknown, contentType: string | null): void {
  validated++;
  const before = failures.length;
  if (status >= 400 && operation.startsWith('files.') && !DOCUMENTED[operation]!.includes(status)) {
    failures.push({ operation, status, path: '', keyword: 'status', message: `${status} not documented` });
  }
  if (status >= 400) {
    if (!/^application\/problem\+json/.test(contentType ?? '')) {
      failures.push({ operation, status, path: '', keyword: 'content-type', message: contentType ?? 'none' });
    }
    const v = schema(PROBLEM);
    if (!v(body)) record(`error ${status}`, status, v.errors);
  } else {
    if (!/^application\/json/.test(contentType ?? '')) {
      failures.push({ operation, status, path: '', keyword: 'content-type', message: contentType ?? 'none' });
    }
    const documented = DOCUMENTED[operation];
    if (documented && !documented.includes(status)) {
      failures.push({ operation, status, path: '', keyword: 'status', message: `${status} not documented` });
    }
    const page = PAGES[operation];
    if (page) {
      const v = schema(page);
      // the page's envelope: its results are checked one by one below, so their failures are counted once
      if (!v({ ...(body as object), results: [] })) record(operation, status, v.errors);
      const item = schema(SCHEMAS[operation]!);
      for (const result of (body as { results: unknown[] }).results) {
        if (!item(result)) record(operation, status, item.errors);
      }
    } else {
      const v = schema(SCHEMAS[operation]!);
      if (!v(body)) record(operation, status, v.errors);
    }
  }
  if (failures.length > before) failedResponses++;
}

const models = {
  'c/fast': { startDelayMs: 100, durationMs: 200 },
  'c/instant': { startDelayMs: 0, durationMs: 0, output: '$input' },
  'c/fail': { startDelayMs: 100, durationMs: 200, outcome: 'failed' as const },
  'c/abort': { startDelayMs: 100, durationMs: 200, outcome: 'aborted' as const },
  'c/never': { outcome: 'never' as const },
};
const { sim, advance } = clockedSimulator({
  models,
  deployments: { 'acme/fast': 'c/fast' },
  outputTtlMs: 60_000,
  maxBodyBytes: 2_000,
  maxFileBytes: 2_000,
});
let base = '';
let hooks: Awaited<ReturnType<typeof hookReceiver>>;
beforeAll(async () => {
  base = await sim.start();
  hooks = await hookReceiver();
});
afterAll(async () => {
  await sim.stop();
  await hooks.close();
});

/** One request, its answer validated as `operation`. */
async function exchange(
  operation: string,
  method: string,
  route: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(route.startsWith('http') ? route : `${base}${route}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  const json = JSON.parse(text) as Record<string, unknown>;
  check(operation, response.status, json, response.headers.get('content-type'));
  if (headers.prefer && response.status === 201 && !TERMINAL.includes(json.status as string)) {
    // 201 promises the final output; an unfinished answer is a 202 (the description's responses).
    failures.push({
      operation,
      status: 201,
      path: '',
      keyword: 'status',
      message: 'unfinished Prefer: wait',
    });
    failedResponses++;
  }
  return { status: response.status, json };
}
const TERMINAL = ['succeeded', 'failed', 'canceled', 'aborted'];

/** A files.* request (multipart upload, or a bodiless one), its answer validated as `operation`. */
async function fileExchange(
  operation: string,
  method: string,
  route: string,
  form?: FormData,
  headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` },
): Promise<{ status: number; json: Record<string, unknown>; bytes: Buffer }> {
  const response = await fetch(route.startsWith('http') ? route : `${base}${route}`, {
    method,
    headers,
    ...(form === undefined ? {} : { body: form }),
  });
  const bytes = Buffer.from(await response.arrayBuffer());
  const type = response.headers.get('content-type');
  const documented = DOCUMENTED[operation]!;
  if (response.status === 204 || (operation === 'files.download' && response.status === 200)) {
    // no JSON: a 204 has no body; a download is the description's application/octet-stream
    validated++;
    const expected = response.status === 204 ? null : 'application/octet-stream';
    if (type !== expected || !documented.includes(response.status)) {
      failures.push({
        operation,
        status: response.status,
        path: '',
        keyword: 'content-type',
        message: type ?? 'none',
      });
      failedResponses++;
    }
    return { status: response.status, json: {}, bytes };
  }
  const json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  check(operation, response.status, json, type);
  return { status: response.status, json, bytes };
}
const uploadForm = (content: string, metadata?: object): FormData => {
  const form = new FormData();
  form.append('content', new Blob([content], { type: 'text/plain' }), 'contract.txt');
  if (metadata) form.append('metadata', JSON.stringify(metadata));
  return form;
};
const later = (ms: number) => {
  advance(ms);
  sim.tick();
};
const trainPath = (model = 'c/fast') => `/models/${model}/versions/${defaultVersionFor(model)}/trainings`;

describe('every simulator answer against the OpenAPI description', () => {
  it('creates (three routes, Prefer: wait), get, cancel, list, trainings, the secret, webhooks, errors', async () => {
    const webhook = hooks.url;
    // The three create routes, async.
    const byModel = await exchange(
      'models.predictions.create',
      'POST',
      '/models/c/fast/predictions',
      { input: { prompt: 'a' }, webhook, webhook_events_filter: ['start', 'completed'] },
      { 'cancel-after': '10m' },
    );
    expect(byModel.status).toBe(201);
    await exchange('predictions.create', 'POST', '/predictions', {
      version: `c/fast:${defaultVersionFor('c/fast')}`,
      input: { prompt: 'b' },
    });
    await exchange('deployments.predictions.create', 'POST', '/deployments/acme/fast/predictions', {
      input: { prompt: 'c' },
    });
    // Prefer: wait, finished within the window (201) and not (the description: 202).
    const waited = await exchange(
      'models.predictions.create',
      'POST',
      '/models/c/instant/predictions',
      { input: { n: 1 } },
      { prefer: 'wait=1' },
    );
    expect(waited.json.status).toBe('succeeded');
    const unfinished = await exchange(
      'models.predictions.create',
      'POST',
      '/models/c/never/predictions',
      { input: {} },
      { prefer: 'wait=1' },
    );
    expect.soft(unfinished.status).toBe(202);

    // get while starting, processing; then every terminal status; cancel.
    const id = byModel.json.id as string;
    await exchange('predictions.get', 'GET', `/predictions/${id}`);
    later(150);
    await exchange('predictions.get', 'GET', `/predictions/${id}`);
    const failing = await exchange('models.predictions.create', 'POST', '/models/c/fail/predictions', {
      input: {},
    });
    const aborting = await exchange('models.predictions.create', 'POST', '/models/c/abort/predictions', {
      input: {},
    });
    const canceling = await exchange('models.predictions.create', 'POST', '/models/c/never/predictions', {
      input: { cancel: true },
    });
    later(1_000);
    await exchange('predictions.get', 'GET', `/predictions/${id}`); // succeeded
    await exchange('predictions.get', 'GET', `/predictions/${failing.json.id as string}`);
    await exchange('predictions.get', 'GET', `/predictions/${aborting.json.id as string}`);
    await exchange('predictions.cancel', 'POST', `/predictions/${canceling.json.id as string}/cancel`);
    await exchange('predictions.get', 'GET', `/predictions/${canceling.json.id as string}`);
    await exchange('predictions.list', 'GET', '/predictions');

    // Trainings: create, get, cancel, one that succeeds, list.
    const training = await exchange(
      'trainings.create',
      'POST',
      trainPath(),
      { destination: 'acme/tuned', input: { steps: 1 }, webhook, webhook_events_filter: ['completed'] },
      { 'cancel-after': '10m' },
    );
    const canceledTraining = await exchange('trainings.create', 'POST', trainPath(), {
      destination: 'acme/tuned',
      input: { steps: 2 },
    });
    await exchange('trainings.get', 'GET', `/trainings/${training.json.id as string}`);
    await exchange('trainings.cancel', 'POST', `/trainings/${canceledTraining.json.id as string}/cancel`);
    later(1_000);
    await exchange('trainings.get', 'GET', `/trainings/${training.json.id as string}`);
    await exchange('trainings.list', 'GET', '/trainings');
    await exchange('webhooks.default.secret.get', 'GET', '/webhooks/default/secret');

    // Data removed after the TTL.
    later(61_000);
    await exchange('predictions.get', 'GET', `/predictions/${id}`);

    // Webhook deliveries: start and completed of the prediction, completed of the training.
    const arrivals = await hooks.first(3);
    for (const a of arrivals) {
      const body = JSON.parse(a.body) as { destination?: string };
      check(body.destination ? 'webhook (training)' : 'webhook (prediction)', 200, body, 'application/json');
    }

    // Files: create, get, list (two pages), download, delete, then the 404s and a 413.
    const upload = await fileExchange('files.create', 'POST', '/files', uploadForm('one', { ref: 1 }));
    expect(upload.status).toBe(201);
    await fileExchange('files.create', 'POST', '/files', uploadForm('two'));
    const fileId = upload.json.id as string;
    await fileExchange('files.get', 'GET', `/files/${fileId}`);
    await fileExchange('files.list', 'GET', '/files');
    const download = await fileExchange('files.download', 'GET', sim.fileDownloadUrl(fileId), undefined, {});
    expect(download.bytes.toString()).toBe('one');
    expect((await fileExchange('files.delete', 'DELETE', `/files/${fileId}`)).status).toBe(204);
    expect((await fileExchange('files.get', 'GET', `/files/${fileId}`)).status).toBe(404);
    expect((await fileExchange('files.delete', 'DELETE', `/files/${fileId}`)).status).toBe(404);
    const gone = await fileExchange('files.download', 'GET', sim.fileDownloadUrl(fileId), undefined, {});
    expect(gone.status).toBe(404);
    expect((await fileExchange('files.create', 'POST', '/files', uploadForm('x'.repeat(3_000)))).status).toBe(
      413,
    );

    // Errors.
    const unauthenticated = await fetch(`${base}/predictions/${id}`);
    check(
      'predictions.get',
      unauthenticated.status,
      await unauthenticated.json(),
      unauthenticated.headers.get('content-type'),
    );
    expect(unauthenticated.status).toBe(401);
    expect((await exchange('predictions.get', 'GET', '/predictions/nosuchid')).status).toBe(404);
    // a version, found under its model only (how a worker maps a bare version id to its model)
    const fastVersion = defaultVersionFor('c/fast');
    const version = await exchange('models.versions.get', 'GET', `/models/c/fast/versions/${fastVersion}`);
    expect(version.json.id).toBe(fastVersion);
    const elsewhere = `/models/c/fail/versions/${fastVersion}`;
    expect((await exchange('models.versions.get', 'GET', elsewhere)).status).toBe(404);
    expect(
      (await exchange('models.predictions.create', 'POST', '/models/no/such/predictions', { input: {} }))
        .status,
    ).toBe(404);
    expect(
      (await exchange('models.predictions.create', 'POST', '/models/c/fast/predictions', { inputs: {} }))
        .status,
    ).toBe(422);
    expect(
      (await exchange('predictions.create', 'POST', '/predictions', { version: 'no/such', input: {} }))
        .status,
    ).toBe(422);
    expect(
      (
        await exchange('predictions.create', 'POST', '/predictions', {
          version: 'c/fast',
          input: { big: 'x'.repeat(3_000) },
        })
      ).status,
    ).toBe(413);
    expect((await exchange('predictions.list', 'GET', '/predictions?created_after=yesterday')).status).toBe(
      400,
    );
    expect((await exchange('predictions.get', 'PUT', `/predictions/${id}`)).status).toBe(405);
    sim.setFaults({ rateLimitNext: 1 });
    expect((await exchange('predictions.get', 'GET', `/predictions/${id}`)).status).toBe(429);
    sim.setFaults({});

    const keyOf = (f: { path: string; keyword: string; property?: string }) =>
      `${f.path}|${f.keyword}|${f.property ?? ''}`;
    const allowed = (f: Failure) =>
      DEVIATIONS.some((d) => d.operations.includes(f.operation) && keyOf(d) === keyOf(f));
    const unlisted = failures.filter((f) => !allowed(f));
    const unused = DEVIATIONS.filter(
      (d) => !failures.some((f) => d.operations.includes(f.operation) && keyOf(d) === keyOf(f)),
    ).map((d) => d.id);
    const counts = new Map<string, number>();
    for (const f of failures) {
      const k = `${f.operation} ${f.status} ${keyOf(f)}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    if (process.env.CONTRACT_VERBOSE) console.info([...counts].map(([k, n]) => `${n} ${k}`).join('\n'));
    console.info(
      `contract: ${validated} responses validated, ${failedResponses} with schema failures (${failures.length} failures), ${unlisted.length} unlisted`,
    );
    expect({ validated, unlisted, unused }).toEqual({ validated, unlisted: [], unused: [] });
  });
});

describe('the deliberate differences in behaviour (simulator/deviations.ts, BEHAVIOUR_DEVIATIONS)', () => {
  it('files with or without Authorization; HTTPS webhooks except loopback; trainings ignore Cancel-After', async () => {
    expect(BEHAVIOUR_DEVIATIONS.map((d) => d.id)).toEqual([
      'files-without-authorization',
      'loopback-http-webhook',
      'unfinished-wait-202',
      'training-cancel-after-ignored',
    ]);
    const done = await exchange('models.predictions.create', 'POST', '/models/c/instant/predictions', {
      input: { n: 2 },
    });
    later(10);
    const file = await exchange('models.predictions.create', 'POST', '/models/c/fast/predictions', {
      input: {},
    });
    later(1_000);
    const output = (await exchange('predictions.get', 'GET', `/predictions/${file.json.id as string}`)).json
      .output as string;
    expect((await fetch(output)).status).toBe(200);
    expect((await fetch(output, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect(done.status).toBe(201);

    for (const webhook of [
      'http://hooks.example.com/replicate',
      'http://10.0.0.1/hook',
      'ftp://example.com/x',
    ]) {
      const refused = await exchange('models.predictions.create', 'POST', '/models/c/fast/predictions', {
        input: {},
        webhook,
      });
      expect(refused.status, webhook).toBe(422);
      expect(refused.json.invalid_fields, webhook).toEqual([
        expect.objectContaining({ type: 'format', field: 'webhook' }),
      ]);
    }
    for (const webhook of [
      'https://hooks.example.com/r',
      'http://localhost:1/h',
      'http://127.0.0.2:1/h',
      'http://[::1]:1/h',
    ]) {
      const accepted = await exchange('models.predictions.create', 'POST', '/models/c/never/predictions', {
        input: {},
        webhook,
        webhook_events_filter: ['completed'],
      });
      expect(accepted.status, webhook).toBe(201);
    }

    const training = await exchange(
      'trainings.create',
      'POST',
      trainPath(),
      { destination: 'acme/tuned', input: {} },
      { 'cancel-after': '5s' },
    );
    expect(training.json).not.toHaveProperty('deadline');
    later(10_000);
    expect(sim.training(training.json.id as string)!.status).not.toMatch(/canceled|aborted/);
  });

  it.each(['list', 'list-and-get'] as const)('lean: %s leaves deadline and webhook out', async (lean) => {
    const leanSim = new ReplicateSimulator({ token: TOKEN, lean, models });
    const leanBase = await leanSim.start();
    try {
      const answer = async (
        method: string,
        route: string,
        body?: unknown,
        headers: Record<string, string> = {},
      ) => {
        const r = await fetch(`${leanBase}${route}`, {
          method,
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return (await r.json()) as Record<string, unknown>;
      };
      const echoed = ['deadline', 'webhook', 'webhook_events_filter'];
      const created = await answer(
        'POST',
        '/models/c/never/predictions',
        { input: {}, webhook: hooks.url, webhook_events_filter: ['completed'] },
        { 'cancel-after': '10m' },
      );
      const got = await answer('GET', `/predictions/${created.id as string}`);
      const listed = ((await answer('GET', '/predictions')).results as Record<string, unknown>[])[0]!;
      for (const key of echoed) {
        expect(listed, key).not.toHaveProperty(key);
        if (lean === 'list') expect(got, key).toHaveProperty(key);
        else expect(got, key).not.toHaveProperty(key);
      }
      // The simulator itself still knows them (its inspection API is not an answer).
      expect(leanSim.prediction(created.id as string)).toHaveProperty('deadline');
    } finally {
      await leanSim.stop();
    }
  });
});

describe('every request body our activities send against the request schemas', () => {
  it('the three prediction routes and trainings, with and without a webhook', async () => {
    const environment = new MockActivityEnvironment(
      {
        attempt: 1,
        workflowExecution: { workflowId: 'contract', runId: 'r' },
        startToCloseTimeoutMs: 40_000,
      },
      { logger: new DefaultLogger('ERROR') },
    );
    sim.reset();
    const cancelAt = () => new Date(Date.now() + 60_000).toISOString();
    for (const webhookBaseUrl of [undefined, new URL(hooks.url).origin]) {
      const activities = createActivities({
        token: TOKEN,
        baseUrl: base,
        ...(webhookBaseUrl ? { webhookBaseUrl } : {}),
      });
      for (const model of ['c/fast', `c/fast:${defaultVersionFor('c/fast')}`, defaultVersionFor('c/fast')]) {
        await environment.run(activities.createPrediction, { model, input: { p: 1 }, cancelAt: cancelAt() });
      }
      await environment.run(activities.createPrediction, {
        model: 'acme/fast',
        deployment: true,
        input: { p: 1 },
        cancelAt: cancelAt(),
      });
      await environment.run(activities.createTraining, {
        model: `c/fast:${defaultVersionFor('c/fast')}`,
        destination: 'acme/tuned',
        input: { steps: 1 },
        cancelAt: cancelAt(),
      });
    }
    const requestSchema: Record<string, string> = {
      'predictions.create': component('schemas_version_prediction_request'),
      'models.predictions.create': component('schemas_prediction_request'),
      'deployments.predictions.create': component('schemas_prediction_request'),
      'trainings.create': component('schemas_training_request'),
    };
    const sent = sim.requests.filter((r) => r.method === 'POST' && requestSchema[r.route]);
    const problems = sent.flatMap((r) => {
      const v = schema(requestSchema[r.route]!);
      return v(r.body) ? [] : [{ route: r.route, errors: v.errors }];
    });
    console.info(`contract: ${sent.length} request bodies validated, ${problems.length} failing`);
    expect(sent.length).toBe(10);
    expect(problems).toEqual([]);
  });
});
