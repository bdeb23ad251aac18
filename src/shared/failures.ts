/**
 * Failure type names: defined once here and used by the activity that throws, the workflow that catches,
 * the CLI that explains and the test that expects. They appear as `ApplicationFailure.type` in Temporal.
 */

/** Replicate answered with an error that retrying cannot fix (non-retryable activity failures). */
export const ReplicateErrorType = {
  Unauthorized: 'ReplicateUnauthorized', // 401: token missing or wrong
  PaymentRequired: 'ReplicatePaymentRequired', // 402: billing not set up
  Forbidden: 'ReplicateForbidden', // 403
  NotFound: 'ReplicateNotFound', // 404: unknown model, version, deployment or prediction
  InvalidInput: 'ReplicateInvalidInput', // 422: input validation failed, invalid version
  RequestRejected: 'ReplicateRequestRejected', // any other 4xx (400, 409, 413, ...)
} as const;

/** Transient problems: Temporal retries these with the activity's retry policy. */
export const ReplicateTransientType = {
  RateLimited: 'ReplicateRateLimited', // 429: retried after Retry-After
  ServerError: 'ReplicateServerError', // 5xx
  NetworkError: 'ReplicateNetworkError', // timeout, connection reset, DNS, ...
} as const;

/** How a run ends when it does not succeed (workflow failures). */
export const PredictionFailureType = {
  Failed: 'PredictionFailed', // Replicate reported status `failed`
  Canceled: 'PredictionCanceled', // status `canceled` (by someone else, or Replicate's Cancel-After while running)
  Aborted: 'PredictionAborted', // status `aborted`: ended before it ran (not billed)
  TimedOut: 'PredictionTimedOut', // our deadline was reached; the prediction was canceled remotely
  InvalidRequest: 'InvalidPredictionRequest', // our own validation of the workflow input
  OutputRefused: 'PredictionOutputRefused', // the model's output cannot be carried (nested past MAX_OUTPUT_DEPTH)
} as const;

/** How a pipeline or one of its outputs fails. */
export const PipelineFailureType = {
  InvalidSpec: 'InvalidPipelineSpec', // the spec or its inputs are wrong (path and message in details)
  Failed: 'PipelineFailed', // one or more steps failed (the per-step report is in details)
  OutputUnavailable: 'OutputUnavailable', // an output file is gone (404/410, data_removed) or unreadable
  OutputTooLarge: 'OutputTooLarge', // an output file is over the size limit
  OutputOriginNotAllowed: 'OutputOriginNotAllowed', // an output URL (or a redirect hop) is on an origin not allowed
  NoTimeLeft: 'PipelineNoTimeLeft', // a step would start too close to the pipeline's ceiling for its prediction
  InputFileTooLarge: 'InputFileTooLarge', // a chained input file is over the 100 MiB of Replicate's files API
  Rejected: 'ApprovalRejected', // an approval step was rejected (by a person, or by its timeout)
} as const;

/**
 * A budget was reached while jobs ran: they were canceled at Replicate and nothing new started. A run's
 * `maxCostUsd` or a pipeline's `budget`; the details name the budget, the spend and the step (src/shared/budget.ts).
 */
export const BudgetFailureType = {
  Exceeded: 'BudgetExceeded',
} as const;

export const NON_RETRYABLE_REPLICATE_ERRORS: string[] = [
  ...Object.values(ReplicateErrorType),
  PredictionFailureType.InvalidRequest,
  PredictionFailureType.TimedOut,
];

export type ReplicateErrorTypeName = (typeof ReplicateErrorType)[keyof typeof ReplicateErrorType];
export type ReplicateTransientTypeName = (typeof ReplicateTransientType)[keyof typeof ReplicateTransientType];
