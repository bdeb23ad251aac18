/**
 * Request handling: the route table, the /v1 API (auth, rate limits and faults first, then the route),
 * output files (/files), server-sent events (/stream) and the admin routes (/_sim, no auth).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { URL } from 'node:url';
import type { RecordedRequest, SimContext } from './context';
import { outputPicture } from './behaviour';
import { createRun, rejectIfScripted } from './create';
import { CREATE_ROUTES, createLog } from './create-log';
import type { Faults } from './faults';
import {
  DEFAULT_MAX_BODY_BYTES,
  HttpProblem,
  headerValue,
  isObject,
  notFound,
  parseJsonBody,
  problem,
  readBody,
  readBodyBytes,
  sendJson,
  sendProblem,
  unauthenticated,
} from './http';
import {
  MULTIPART_OVERHEAD_BYTES,
  createFile,
  deleteFile,
  downloadFile,
  fileTooLarge,
  getFile,
  listFiles,
} from './files-api';
import { listRuns } from './list';
import { isTerminal, resolveScript } from './models';
import type { ModelScript, Prediction } from './models';
import { pictureBytes } from './picture';
import type { Entry } from './store';
import { kindOf } from './store';
import { makeTar } from './tar';
import { leanView, outputFileNames } from './timeline';

/** Route name and path parameters for a /v1 path (without the /v1 prefix). */
function matchRoute(method: string, path: string): { name: string; params: string[] } {
  const routes: [string, string, RegExp][] = [
    ['POST', 'predictions.create', /^\/predictions$/],
    ['GET', 'predictions.list', /^\/predictions$/],
    ['GET', 'predictions.get', /^\/predictions\/([^/]+)$/],
    ['POST', 'predictions.cancel', /^\/predictions\/([^/]+)\/cancel$/],
    ['POST', 'models.predictions.create', /^\/models\/([^/]+)\/([^/]+)\/predictions$/],
    ['POST', 'deployments.predictions.create', /^\/deployments\/([^/]+)\/([^/]+)\/predictions$/],
    ['POST', 'trainings.create', /^\/models\/([^/]+)\/([^/]+)\/versions\/([^/]+)\/trainings$/],
    ['GET', 'models.versions.get', /^\/models\/([^/]+)\/([^/]+)\/versions\/([^/]+)$/],
    ['GET', 'trainings.list', /^\/trainings$/],
    ['GET', 'trainings.get', /^\/trainings\/([^/]+)$/],
    ['POST', 'trainings.cancel', /^\/trainings\/([^/]+)\/cancel$/],
    ['GET', 'webhooks.default.secret.get', /^\/webhooks\/default\/secret$/],
    ['POST', 'files.create', /^\/files$/],
    ['GET', 'files.list', /^\/files$/],
    ['GET', 'files.get', /^\/files\/([^/]+)$/],
    ['DELETE', 'files.delete', /^\/files\/([^/]+)$/],
    ['GET', 'files.download', /^\/files\/([^/]+)\/download$/],
  ];
  let pathMatched = false;
  for (const [m, name, re] of routes) {
    const match = re.exec(path);
    if (!match) continue;
    if (m !== method) {
      pathMatched = true;
      continue;
    }
    return { name, params: match.slice(1).map((p) => decodeURIComponent(p)) };
  }
  return { name: pathMatched ? 'method_not_allowed' : 'unknown', params: [] };
}

/** Every request: recorded (the token redacted), dispatched, errors answered as problem+json. */
export async function handleRequest(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://sim.local');
  const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
  const recorded: RecordedRequest = {
    at: ctx.clock(),
    method: req.method ?? 'GET',
    path: url.pathname + url.search,
    route: 'unknown',
    status: 0,
    headers: redactHeaders(req.headers),
  };
  ctx.requests.push(recorded);
  res.on('finish', () => {
    recorded.status = res.statusCode;
    if (ctx.verbose) {
      process.stderr.write(`[sim] ${recorded.method} ${recorded.path} -> ${recorded.status}\n`);
    }
  });
  try {
    if (path.startsWith('/files/')) {
      recorded.route = 'files.get';
      serveFile(ctx, req, res, path);
    } else if (path.startsWith('/stream/')) {
      recorded.route = 'predictions.stream';
      serveStream(ctx, req, res, path.slice('/stream/'.length));
    } else if (path.startsWith('/_sim/') || path === '/_sim') {
      recorded.route = 'admin';
      await handleAdmin(ctx, req, res, path, recorded);
    } else if (path === '/v1' || path.startsWith('/v1/')) {
      await handleApi(ctx, req, res, path.slice(3), url.searchParams, recorded);
    } else {
      sendProblem(res, notFound());
    }
  } catch (err) {
    if (res.headersSent || res.destroyed) return;
    if (err instanceof HttpProblem) sendProblem(res, err);
    else sendProblem(res, problem(500, 'Internal Server Error', (err as Error).message));
  }
}

async function handleApi(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  params: URLSearchParams,
  recorded: RecordedRequest,
): Promise<void> {
  const { faults, store } = ctx;
  const route = matchRoute(req.method ?? 'GET', path);
  recorded.route = route.name;
  const isCreate = CREATE_ROUTES.has(route.name);
  // get/cancel name their prediction in the path: record it even when a fault answers before the lookup.
  if (/^(predictions|trainings)\.(get|cancel)$/.test(route.name)) recorded.predictionId = route.params[0];

  // §6: rate-limit headers on every response; polling has its own, larger bucket.
  for (const [k, v] of Object.entries(faults.rateLimitHeaders(route.name, isCreate))) res.setHeader(k, v);

  // Oversized create bodies and uploads: 413 without parsing (like the API gateway), before auth.
  const upload = route.name === 'files.create';
  const limit = isCreate ? ctx.maxBodyBytes : DEFAULT_MAX_BODY_BYTES;
  const raw = upload
    ? await readBodyBytes(req, ctx.maxFileBytes + MULTIPART_OVERHEAD_BYTES, () =>
        fileTooLarge(ctx.maxFileBytes),
      )
    : undefined;
  const body =
    req.method === 'POST' && !upload ? parseRecordedBody(await readBody(req, limit), recorded) : undefined;

  const latency = faults.current.latencyMs ?? 0;
  if (latency > 0) await new Promise((resolve) => setTimeout(resolve, latency));
  if (res.destroyed) return;

  // A download URL is signed instead (files.download): it needs no token.
  if (route.name !== 'files.download' && req.headers.authorization !== `Bearer ${ctx.token}`) {
    throw unauthenticated();
  }

  if (faults.takeRateLimit(isCreate)) throw faults.throttled();
  if (faults.serverErrorDue(route.name, isCreate)) return faults.sendServerError(res);

  switch (route.name) {
    case 'predictions.create':
    case 'models.predictions.create':
    case 'deployments.predictions.create':
    case 'trainings.create':
      return createRun(ctx, req, res, route.name, route.params, body, recorded);
    case 'predictions.get':
    case 'trainings.get': {
      const entry = lookup(ctx, route.params[0]!, route.name === 'trainings.get');
      entry.counters.gets++;
      rejectIfScripted(ctx.models, entry.rec.model, 'get');
      return sendJson(res, 200, leanView(store.refresh(entry), ctx.lean, 'get'));
    }
    case 'predictions.cancel':
    case 'trainings.cancel': {
      const entry = lookup(ctx, route.params[0]!, route.name === 'trainings.cancel');
      entry.counters.cancels++;
      rejectIfScripted(ctx.models, entry.rec.model, 'get');
      return sendJson(res, 200, leanView(store.cancel(entry), ctx.lean, 'get'));
    }
    case 'predictions.list':
      return sendJson(res, 200, listRuns(ctx, params, 'prediction'));
    case 'trainings.list':
      return sendJson(res, 200, listRuns(ctx, params, 'training'));
    case 'models.versions.get':
      return sendJson(res, 200, modelVersion(ctx, route.params));
    case 'webhooks.default.secret.get':
      return sendJson(res, 200, { key: ctx.webhookSecret });
    case 'files.create':
      return createFile(ctx, req, res, raw!, recorded);
    case 'files.list':
      return sendJson(res, 200, listFiles(ctx, params));
    case 'files.get':
      return sendJson(res, 200, getFile(ctx, route.params[0]!));
    case 'files.delete':
      return deleteFile(ctx, res, route.params[0]!);
    case 'files.download':
      return downloadFile(ctx, res, route.params[0]!, params);
    case 'method_not_allowed':
      throw problem(405, 'Method Not Allowed', `Method "${req.method ?? ''}" not allowed.`);
    default:
      throw notFound();
  }
}

/**
 * GET /models/{owner}/{name}/versions/{id}: the model's version (each simulated model has one), else 404. The only
 * way Replicate maps a bare version id to its model before a create (docs/replicate-api.md §1).
 */
function modelVersion(ctx: SimContext, [owner, name, id]: string[]): Record<string, unknown> {
  const ref = `${owner}/${name}`;
  const script = ctx.models.get(ref);
  if (!script || resolveScript(ref, script).version !== id) throw notFound();
  return { id, created_at: '2025-01-01T00:00:00.000Z', cog_version: '0.9.0', openapi_schema: {} };
}

/** The stored run behind /predictions/{id} or /trainings/{id}; the other kind's ids are 404 on each route. */
function lookup(ctx: SimContext, id: string, training: boolean): Entry {
  const entry = ctx.store.get(id);
  if (!entry || (kindOf(entry.rec) === 'training') !== training) throw notFound();
  return entry;
}

/**
 * GET /files/{id}/{name}: like replicate.delivery, no auth; 404 once data is removed (§8). Prediction
 * outputs are PNGs drawn by picture.ts (what they show: behaviour.ts); a training's `weights.tar` is a small
 * tar archive.
 */
function serveFile(ctx: SimContext, req: IncomingMessage, res: ServerResponse, path: string): void {
  const parts = path.split('/'); // ['', 'files', id, name]
  const [, , id, name] = parts.length === 4 ? parts : [];
  const entry = id === undefined ? undefined : ctx.store.get(id);
  if (!entry || name === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) throw notFound();
  const view = ctx.store.refresh(entry);
  if (view.status !== 'succeeded' || view.data_removed || !outputFileNames(entry.rec, ctx.origin).has(name)) {
    throw notFound();
  }
  const tar = name.endsWith('.tar');
  const bytes = tar ? makeTar(`${id}/${name}`) : pictureBytes(outputPicture(entry.rec, name));
  res.writeHead(200, {
    'content-type': tar ? 'application/x-tar' : 'image/png',
    'content-length': String(bytes.length),
    'cache-control': 'public, max-age=3600',
  });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

/** urls.stream: server-sent events `output` / `error` then `done` when the prediction ends. */
function serveStream(ctx: SimContext, req: IncomingMessage, res: ServerResponse, id: string): void {
  const entry = ctx.store.get(id);
  if (!entry || kindOf(entry.rec) === 'training') throw notFound();
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
  const finish = (p: Prediction): void => {
    if (p.status === 'succeeded') {
      const data = typeof p.output === 'string' ? p.output : JSON.stringify(p.output);
      res.write(`event: output\nid: ${Date.now()}:0\ndata: ${data}\n\n`);
    } else if (p.status === 'failed') {
      res.write(`event: error\ndata: ${JSON.stringify({ detail: p.error })}\n\n`);
    }
    const reason = p.status === 'succeeded' ? {} : { reason: p.status };
    res.end(`event: done\ndata: ${JSON.stringify(reason)}\n\n`);
  };
  ctx.store.waitFor(id, (p) => isTerminal(p.status), 2 ** 31 - 1).then(finish, () => res.destroy());
  req.on('close', () => res.end());
}

/** /_sim: state, faults, models, deployments and reset, for tests and the chaos suite. */
async function handleAdmin(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  recorded: RecordedRequest,
): Promise<void> {
  const { store } = ctx;
  const body = req.method === 'POST' ? parseRecordedBody(await readBody(req), recorded) : undefined;
  const route = `${req.method ?? 'GET'} ${path}`;
  switch (route) {
    case 'GET /_sim/state': {
      store.tick();
      const runs = (entries: Entry[]) =>
        entries.map((entry) => {
          const view = store.peek(entry);
          return { id: entry.rec.id, status: view.status, model: view.model, ...entry.counters };
        });
      const predictions = store.runs('prediction');
      const trainings = store.runs('training');
      return sendJson(res, 200, {
        creates: predictions.length,
        trainingCreates: trainings.length,
        predictions: runs(predictions),
        trainings: runs(trainings),
        requests: ctx.requests.length,
        webhooks: store.webhookDeliveries.length,
        files: ctx.files.live().length,
        createLog: createLog(ctx.requests, store),
      });
    }
    case 'POST /_sim/faults':
      if (!isObject(body)) throw problem(400, 'Bad Request', 'body must be a Faults object');
      ctx.faults.set(body as Faults);
      return sendJson(res, 200, { faults: ctx.faults.current });
    case 'POST /_sim/models': {
      if (!isObject(body) || typeof body.ref !== 'string' || !isObject(body.script)) {
        throw problem(400, 'Bad Request', 'body must be {ref: "owner/name", script: {...}}');
      }
      ctx.models.set(body.ref, body.script as ModelScript);
      return sendJson(res, 200, { ref: body.ref, version: resolveScript(body.ref, body.script).version });
    }
    case 'POST /_sim/deployments':
      if (!isObject(body) || typeof body.name !== 'string' || typeof body.model !== 'string') {
        throw problem(400, 'Bad Request', 'body must be {name: "owner/name", model: "owner/name"}');
      }
      ctx.deployments.set(body.name, body.model);
      return sendJson(res, 200, { name: body.name, model: body.model });
    case 'POST /_sim/reset':
      ctx.reset();
      return sendJson(res, 200, { ok: true });
    default:
      throw notFound();
  }
}

function parseRecordedBody(text: string, recorded: RecordedRequest): unknown {
  try {
    const body = parseJsonBody(text);
    recorded.body = body;
    return body;
  } catch (err) {
    recorded.body = text;
    throw err;
  }
}

/** Request headers for the record; the Authorization value never leaves the simulator. */
function redactHeaders(headers: IncomingMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (name === 'authorization') {
      const scheme = /^(\S+)\s/.exec(headerValue(value) ?? '')?.[1];
      out[name] = scheme ? `${scheme} ***` : '***';
    } else out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
