/**
 * The workflow interceptor module (runs in Temporal's workflow sandbox; bundled by the worker when tracing is on and
 * always by `npm run build:workflows`): Temporal's OpenTelemetry workflow interceptors (RunWorkflow, StartActivity,
 * StartChildWorkflow... spans, exported through the worker's `exporter` sink, and the trace context passed on to
 * activities and children in headers), plus `replicate.model` on the RunWorkflow span of runPrediction and
 * runTraining. Interceptors add no command of their own (headers only): histories replay the same.
 */
import { trace } from '@opentelemetry/api';
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow';
import type {
  Next,
  WorkflowExecuteInput,
  WorkflowInboundCallsInterceptor,
  WorkflowInterceptors,
} from '@temporalio/workflow';

export const interceptors = (): WorkflowInterceptors => ({
  // the first is outermost: its RunWorkflow span is the active one when ModelAttribute runs
  inbound: [new OpenTelemetryInboundInterceptor(), new ModelAttribute()],
  outbound: [new OpenTelemetryOutboundInterceptor()],
  internals: [new OpenTelemetryInternalsInterceptor()],
});

class ModelAttribute implements WorkflowInboundCallsInterceptor {
  async execute(
    input: WorkflowExecuteInput,
    next: Next<WorkflowInboundCallsInterceptor, 'execute'>,
  ): Promise<unknown> {
    const request: unknown = input.args[0];
    if (
      typeof request === 'object' &&
      request !== null &&
      'model' in request &&
      typeof request.model === 'string'
    ) {
      trace.getActiveSpan()?.setAttribute('replicate.model', request.model);
    }
    return next(input);
  }
}
