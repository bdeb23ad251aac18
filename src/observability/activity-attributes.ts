/**
 * Our attributes on each activity's RunActivity span (the span Temporal's OpenTelemetry interceptor opened just
 * outside this one): `replicate.prediction_id`, `replicate.model`, `replicate.status` (the job's status when the
 * activity returned) and `temporal.activity.attempt`. Only ids, names and counts: never inputs, outputs or
 * anything from the configuration (the token stays out of spans).
 */
import { trace, type Span } from '@opentelemetry/api';
import type { Context } from '@temporalio/activity';
import type {
  ActivityExecuteInput,
  ActivityInboundCallsInterceptor,
  ActivityInterceptors,
  Next,
} from '@temporalio/worker';

export const ATTRIBUTES = {
  predictionId: 'replicate.prediction_id',
  model: 'replicate.model',
  status: 'replicate.status',
  attempt: 'temporal.activity.attempt',
} as const;

/** The activities that create, read or cancel one job and return its snapshot (names as in src/activities). */
const JOB_ACTIVITIES = new Set([
  'createPrediction',
  'createTraining',
  'getPrediction',
  'tryGetPrediction', // a poll within the worker's read share: the snapshot, or how long to wait for its turn
  'cancelPrediction',
]);
/** The activities that keep one job's output files: their arguments name the prediction (and a run's, its model). */
const OUTPUT_ACTIVITIES = new Set(['keepOutputs', 'persistOutputs']);

/** An activity interceptor factory for WorkerOptions.interceptors.activity, after the OpenTelemetry one. */
export function replicateAttributes(ctx: Context): ActivityInterceptors {
  return { inbound: new ReplicateAttributes(ctx) };
}

class ReplicateAttributes implements ActivityInboundCallsInterceptor {
  constructor(private readonly ctx: Context) {}

  async execute(
    input: ActivityExecuteInput,
    next: Next<ActivityInboundCallsInterceptor, 'execute'>,
  ): Promise<unknown> {
    const span = trace.getActiveSpan();
    if (!span) return next(input);
    span.setAttribute(ATTRIBUTES.attempt, this.ctx.info.attempt);
    const type = this.ctx.info.activityType;
    const [first] = input.args;
    if (OUTPUT_ACTIVITIES.has(type) && isRecord(first)) {
      setString(span, ATTRIBUTES.predictionId, first.predictionId);
      setString(span, ATTRIBUTES.model, first.model);
    }
    if (!JOB_ACTIVITIES.has(type)) return next(input);
    // createPrediction/createTraining take a request with the model; the reads and cancelPrediction the job id
    if (isRecord(first)) setString(span, ATTRIBUTES.model, first.model);
    else setString(span, ATTRIBUTES.predictionId, first);
    const result = await next(input);
    // the job's snapshot (the create's id is known only now)
    if (isRecord(result)) {
      setString(span, ATTRIBUTES.predictionId, result.id);
      setString(span, ATTRIBUTES.model, result.model);
      setString(span, ATTRIBUTES.status, result.status);
    }
    return result;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function setString(span: Span, key: string, value: unknown): void {
  if (typeof value === 'string' && value !== '') span.setAttribute(key, value);
}
