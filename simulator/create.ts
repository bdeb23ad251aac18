/**
 * The create routes (§1): POST /v1/predictions (by version), /v1/models/{owner}/{name}/predictions,
 * /v1/deployments/{owner}/{name}/predictions and /v1/models/{owner}/{name}/versions/{id}/trainings: body
 * validation (§5), `Cancel-After`, `Prefer: wait` (§2), and the create faults (resets before and after the
 * run is stored, a slow commit).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RecordedRequest, SimContext } from './context';
import {
  HttpProblem,
  MIN_CANCEL_AFTER_MS,
  headerValue,
  inputValidationFailed,
  isObject,
  notFound,
  parseCancelAfter,
  parsePreferWait,
  problem,
  sendJson,
} from './http';
import type { InvalidField } from './http';
import {
  isTerminal,
  materialiseOutput,
  rejectionBody,
  resolveScript,
  trainingOutput,
  varyScript,
} from './models';
import type { ModelScript, RunKind } from './models';
import { didYouMean } from './suggest';
import { createView, leanView } from './timeline';
import type { PredictionRecord } from './timeline';
import { WEBHOOK_EVENTS } from './webhooks';

const NAME = '[A-Za-z0-9][A-Za-z0-9._-]*';
const HEX64 = '[0-9a-f]{64}';

export async function createRun(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  route: string,
  params: string[],
  body: unknown,
  recorded: RecordedRequest,
): Promise<void> {
  const { store, faults } = ctx;
  const viaVersion = route === 'predictions.create';
  const kind: RunKind = route === 'trainings.create' ? 'training' : 'prediction';
  const parsed = validateCreateBody(
    body,
    viaVersion ? 'version' : kind === 'training' ? 'training' : 'model',
  );

  // Which model runs, and what the prediction's `model`/`version`/`deployment` fields say.
  let modelRef: string;
  let deployment: string | undefined;
  let hiddenAllowed = !viaVersion;
  if (viaVersion) {
    const found = resolveVersion(ctx.models, parsed.version ?? '');
    modelRef = found.ref;
    hiddenAllowed = found.bareName;
  } else if (kind === 'training') {
    // POST /models/{owner}/{name}/versions/{version_id}/trainings: unknown model 404, unknown version 422.
    modelRef = `${params[0]!}/${params[1]!}`;
    const model = ctx.models.get(modelRef);
    if (!model) throw notFound(didYouMean(modelRef, ctx.models.keys()));
    if (resolveScript(modelRef, model).version !== params[2]) throw invalidVersion();
    hiddenAllowed = false;
  } else if (route === 'models.predictions.create') {
    modelRef = `${params[0]!}/${params[1]!}`;
    if (!ctx.models.has(modelRef)) throw notFound(didYouMean(modelRef, ctx.models.keys()));
  } else {
    deployment = `${params[0]!}/${params[1]!}`;
    const target = ctx.deployments.get(deployment);
    if (target === undefined) throw notFound(didYouMean(deployment, ctx.deployments.keys()));
    if (!ctx.models.has(target)) throw notFound();
    modelRef = target;
  }
  rejectIfScripted(ctx.models, modelRef, 'create');
  // this run's own duration and start delay, when its model's vary (durationJitter, coldStart)
  const script = varyScript(resolveScript(modelRef, ctx.models.get(modelRef)!, kind), () => faults.random());

  // requiredInputs describe predict(); a training's input goes to train(), which the script does not model.
  const required = kind === 'training' ? [] : script.requiredInputs;
  const missing = required.filter((k) => parsed.input[k] === undefined || parsed.input[k] === null);
  if (missing.length > 0) {
    throw inputValidationFailed(
      missing.map((k) => ({ type: 'required', field: 'input', description: `${k} is required` })),
    );
  }

  let cancelAfterMs: number | undefined;
  // The description documents Cancel-After on the three prediction routes only: a training ignores it (and so
  // never carries a `deadline`), so code that relies on it for trainings fails here as it would in production.
  const cancelAfter = kind === 'training' ? undefined : headerValue(req.headers['cancel-after']);
  if (cancelAfter !== undefined) {
    cancelAfterMs = parseCancelAfter(cancelAfter);
    if (cancelAfterMs === undefined || cancelAfterMs < MIN_CANCEL_AFTER_MS) {
      throw problem(
        422,
        'Invalid Cancel-After header',
        `Cancel-After must be a duration of at least 5s (e.g. "30", "30s", "5m", "1h30m45s"); got "${cancelAfter}"`,
      );
    }
  }

  // Fault: the connection drops before anything is stored (a safe-to-retry failure).
  if (faults.chance(faults.current.resetBeforeStoreRate)) {
    req.socket.destroy();
    return;
  }
  // Fault: a slow commit. The prediction is stored after the delay even if the client gave up meanwhile.
  const commitDelay = faults.takeCommitDelay();
  if (commitDelay > 0) await waitForCommit(ctx, recorded.at, commitDelay);

  const now = ctx.clock();
  const id = newPredictionId();
  const rec: PredictionRecord = {
    id,
    ...(kind === 'training' ? { kind } : {}),
    ...store.stamp(now),
    model: modelRef,
    version: hiddenAllowed && script.hiddenVersion ? 'hidden' : script.version,
    ...(deployment === undefined ? {} : { deployment }),
    input: parsed.input,
    ...(parsed.webhook === undefined ? {} : { webhook: parsed.webhook }),
    ...(parsed.webhookEventsFilter === undefined ? {} : { webhookEventsFilter: parsed.webhookEventsFilter }),
    ...(parsed.destination === undefined ? {} : { destination: parsed.destination }),
    stream: parsed.stream === true,
    script,
    output:
      parsed.destination === undefined
        ? materialiseOutput(script, ctx.origin, id, parsed.input)
        : trainingOutput(ctx.origin, id, parsed.destination),
    createdAt: now,
    ...(cancelAfterMs === undefined ? {} : { deadlineAt: now + cancelAfterMs }),
  };
  store.add(rec);
  recorded.predictionId = id;
  recorded.committedAt = now;

  // Fault: stored and running, but the client never hears back (§10: the create is ambiguous).
  if (faults.chance(faults.current.resetAfterStoreRate)) {
    req.socket.destroy();
    return;
  }

  // §2 sync mode: hold the response until terminal or the window ends: 201 with the final state, 202 when the
  // window ended first (the description's responses; recorded traffic also shows 201 then, which clients accept).
  // Documented for predictions only: trainings ignore the preference (RFC 7240) and answer at once.
  const preferHeader = headerValue(req.headers.prefer);
  const waitSeconds = kind === 'training' ? undefined : parsePreferWait(preferHeader);
  if (waitSeconds !== undefined) {
    const view = await store
      .waitFor(id, (p) => isTerminal(p.status), waitSeconds * 1000)
      .catch(() => store.refresh(store.get(id)!));
    if (res.destroyed) return;
    const applied = /=/.test(preferHeader ?? '') ? `wait=${waitSeconds}` : 'wait';
    return sendJson(res, isTerminal(view.status) ? 201 : 202, leanView(view, ctx.lean, 'get'), {
      'preference-applied': applied,
    });
  }
  if (res.destroyed) return; // the client gave up during a slow commit: the prediction runs all the same
  sendJson(res, 201, leanView(createView(rec, ctx.origin), ctx.lean, 'get'));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A slow commit's wait: `delayMs` of real time, then, on the wall clock (the default), until Date.now shows it too.
 * Node's timers run on a monotonic clock and may fire a millisecond early by Date.now, and the create log promises
 * committedAt - arrivedAt >= the delay. A test's injected clock is the test's to move.
 */
async function waitForCommit(ctx: SimContext, arrivedAt: number, delayMs: number): Promise<void> {
  await sleep(delayMs);
  if (ctx.clock !== Date.now) return;
  for (let left = arrivedAt + delayMs - Date.now(); left > 0; left = arrivedAt + delayMs - Date.now()) {
    await sleep(left);
  }
}

/** ModelScript.reject: the scripted problem+json answer, when it applies to this phase (looked up live). */
export function rejectIfScripted(
  models: Map<string, ModelScript>,
  modelRef: string,
  phase: 'create' | 'get',
): void {
  const reject = models.get(modelRef)?.reject;
  if (!reject) return;
  const on = reject.on ?? 'create';
  if (on === 'all' || on === phase) throw new HttpProblem(reject.status, rejectionBody(reject));
}

/** `version` on POST /predictions: 64-hex id, `owner/name:id`, or `owner/name` (§1). */
function resolveVersion(
  models: Map<string, ModelScript>,
  version: string,
): { ref: string; bareName: boolean } {
  if (new RegExp(`^${HEX64}$`).test(version)) {
    for (const [ref, script] of models) {
      if (resolveScript(ref, script).version === version) return { ref, bareName: false };
    }
    throw invalidVersion();
  }
  const m = new RegExp(`^(${NAME}/${NAME})(?::(${HEX64}))?$`).exec(version);
  if (!m) throw invalidVersion();
  const ref = m[1]!;
  const script = models.get(ref);
  if (!script) throw invalidVersion(didYouMean(ref, models.keys()));
  if (m[2] !== undefined && resolveScript(ref, script).version !== m[2]) throw invalidVersion();
  return { ref, bareName: m[2] === undefined };
}

interface CreateRequest {
  version?: string;
  input: Record<string, unknown>;
  webhook?: string;
  webhookEventsFilter?: string[];
  stream?: boolean;
  /** trainings only */
  destination?: string;
}

/**
 * Schema check of a create body: 'version' = POST /predictions (schemas_version_prediction_request),
 * 'model' = model/deployment routes (schemas_prediction_request), 'training' = POST .../trainings
 * (schemas_training_request: `destination` and `input` required, no `stream`). All `additionalProperties:
 * false`; all problems are reported together, like Replicate's validator.
 */
function validateCreateBody(body: unknown, shape: 'version' | 'model' | 'training'): CreateRequest {
  const viaVersion = shape === 'version';
  const fields: InvalidField[] = [];
  if (!isObject(body)) {
    const given = body === undefined ? 'null' : Array.isArray(body) ? 'array' : typeof body;
    throw inputValidationFailed([
      {
        type: 'invalid_type',
        field: '(root)',
        description: `Invalid type. Expected: object, given: ${given}`,
      },
    ]);
  }
  const allowed = {
    version: ['version', 'input', 'webhook', 'webhook_events_filter', 'stream'],
    model: ['input', 'webhook', 'webhook_events_filter', 'stream'],
    training: ['destination', 'input', 'webhook', 'webhook_events_filter'],
  }[shape];
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) {
      fields.push({
        type: 'additional_property_not_allowed',
        field: '(root)',
        description: `Additional property ${key} is not allowed`,
      });
    }
  }
  if (viaVersion && body.version === undefined) {
    fields.push({ type: 'required', field: '(root)', description: 'version is required' });
  } else if (viaVersion && typeof body.version !== 'string') {
    fields.push(typeError('version', 'string', body.version));
  }
  if (shape === 'training') {
    if (body.destination === undefined) {
      fields.push({ type: 'required', field: '(root)', description: 'destination is required' });
    } else if (typeof body.destination !== 'string') {
      fields.push(typeError('destination', 'string', body.destination));
    } else if (!new RegExp(`^${NAME}/${NAME}$`).test(body.destination)) {
      fields.push({
        type: 'format',
        field: 'destination',
        description: 'destination must be a model name in the format owner/name',
      });
    }
  }
  if (body.input === undefined)
    fields.push({ type: 'required', field: '(root)', description: 'input is required' });
  else if (!isObject(body.input)) fields.push(typeError('input', 'object', body.input));
  if (body.webhook !== undefined) {
    if (typeof body.webhook !== 'string') fields.push(typeError('webhook', 'string', body.webhook));
    else if (!/^https?:\/\/[^\s/]+/i.test(body.webhook)) {
      fields.push({ type: 'format', field: 'webhook', description: "Does not match format 'uri'" });
    } else if (!httpsOrLoopback(body.webhook)) {
      fields.push({ type: 'format', field: 'webhook', description: 'webhook must be an HTTPS URL' });
    }
  }
  const filter = body.webhook_events_filter;
  if (filter !== undefined) {
    if (!Array.isArray(filter)) fields.push(typeError('webhook_events_filter', 'array', filter));
    else {
      filter.forEach((ev, i) => {
        if (!(WEBHOOK_EVENTS as readonly unknown[]).includes(ev)) {
          fields.push({
            type: 'enum',
            field: `webhook_events_filter.${i}`,
            description: `webhook_events_filter.${i} must be one of the following: "start", "output", "logs", "completed"`,
          });
        }
      });
    }
  }
  if (body.stream !== undefined && typeof body.stream !== 'boolean')
    fields.push(typeError('stream', 'boolean', body.stream));
  if (fields.length > 0) throw inputValidationFailed(fields);
  return {
    ...(typeof body.version === 'string' ? { version: body.version } : {}),
    input: body.input as Record<string, unknown>,
    ...(typeof body.webhook === 'string' ? { webhook: body.webhook } : {}),
    ...(Array.isArray(filter) ? { webhookEventsFilter: filter as string[] } : {}),
    ...(typeof body.stream === 'boolean' ? { stream: body.stream } : {}),
    ...(typeof body.destination === 'string' ? { destination: body.destination } : {}),
  };
}

/**
 * The description asks for an HTTPS webhook URL. Plain HTTP is accepted only for a loopback host (localhost,
 * 127.0.0.0/8, ::1), which Replicate could never reach anyway: a listed deviation (deviations.ts) so that tests
 * need no certificates.
 */
export function httpsOrLoopback(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol === 'https:') return true;
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  return (
    parsed.protocol === 'http:' &&
    (host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host))
  );
}

/** 422 for a version that does not exist or is not ours (§5); `hint` names the nearest model when one is close. */
function invalidVersion(hint = ''): HttpProblem {
  return problem(
    422,
    'Invalid version or not permitted',
    `The specified version does not exist (or perhaps you don't have permission to use it?)${hint}`,
  );
}

function typeError(field: string, expected: string, value: unknown): InvalidField {
  const given = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return { type: 'invalid_type', field, description: `Invalid type. Expected: ${expected}, given: ${given}` };
}

/** 26 lowercase base32 characters (a-z, 2-7), like `vgcm4plb7tgzlyznry5d5jkgvu` (§3). */
function newPredictionId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return Array.from(randomBytes(26), (b) => alphabet[b & 31]).join('');
}
