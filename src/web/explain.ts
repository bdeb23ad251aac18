/** What each failure type means and what to do about it: shown under a failed run's or pipeline's error. */
import {
  BudgetFailureType,
  PipelineFailureType,
  PredictionFailureType,
  ReplicateErrorType,
  ReplicateTransientType,
} from '../shared/failures';

const EXPLANATIONS: Record<string, string> = {
  [PredictionFailureType.Failed]:
    'The model ran and Replicate reported it failed; its error and last log lines are above. Retrying the same input usually fails the same way: change the input or the model.',
  [PredictionFailureType.Canceled]:
    'Replicate canceled the prediction: someone canceled it there, or its Cancel-After deadline passed while it ran.',
  [PredictionFailureType.Aborted]:
    'The prediction ended before it ran (not billed), for example canceled while it was still queued.',
  [PredictionFailureType.TimedOut]:
    "The run reached its own deadline (a margin before the workflow's timeout) and canceled the prediction at Replicate. Give it a longer --timeout if the model needs more time.",
  [PredictionFailureType.InvalidRequest]:
    'The request was refused before anything was sent to Replicate: the message names the field and the fix.',
  [PredictionFailureType.OutputRefused]:
    "The model's output is nested too deep to carry safely; nothing of it was kept.",
  [ReplicateErrorType.Unauthorized]:
    "Replicate refused the token: set the worker's REPLICATE_API_TOKEN to a valid token and start the run again.",
  [ReplicateErrorType.PaymentRequired]: 'Replicate wants billing set up on the account before it runs this.',
  [ReplicateErrorType.Forbidden]: 'The token may not use this model or deployment.',
  [ReplicateErrorType.NotFound]:
    'Replicate knows no such model, version or deployment: check the name (owner/name, owner/name:version).',
  [ReplicateErrorType.InvalidInput]:
    "Replicate refused the input (the fields it names are above): fix them per the model's input schema.",
  [ReplicateErrorType.RequestRejected]: 'Replicate refused the request; its own words are above.',
  [ReplicateTransientType.RateLimited]:
    'Replicate kept answering 429 (rate limited) until no attempts or time were left; lower the request rate or raise the timeout.',
  [ReplicateTransientType.ServerError]:
    'Replicate answered with server errors on every attempt until no attempts or time were left.',
  [ReplicateTransientType.NetworkError]:
    'Replicate could not be reached (timeouts, resets, DNS) on every attempt until no attempts or time were left.',
  [BudgetFailureType.Exceeded]:
    'The budget was reached: the running predictions were canceled at Replicate and nothing new started. Raise the budget (max cost) to go further.',
  [PipelineFailureType.InvalidSpec]:
    'The pipeline spec or its inputs are wrong: each problem is listed at the path of its field.',
  [PipelineFailureType.Failed]:
    'One or more steps did not succeed; each step below says why. Steps after a failed one were skipped.',
  [PipelineFailureType.OutputUnavailable]:
    'An output file was gone (Replicate deletes outputs after about an hour) or unreadable when the step tried to keep it.',
  [PipelineFailureType.OutputTooLarge]: 'An output file was over the size limit for kept files.',
  [PipelineFailureType.OutputOriginNotAllowed]:
    "An output URL pointed outside the allowed origins, so it was not fetched; add the origin to the worker's OUTPUT_ALLOWED_ORIGINS if you trust it.",
  WorkflowCanceled: 'Someone canceled the run; its predictions were canceled at Replicate.',
  WorkflowTimedOut:
    'Temporal ended the workflow at its execution timeout before it could clean up; Replicate stops the job by itself (Cancel-After).',
  WorkflowTerminated:
    'The workflow was terminated (no cleanup ran); Replicate stops the job by itself at its Cancel-After deadline.',
};

// the names predictionOutcome gives Temporal's own ends
EXPLANATIONS.TimeoutFailure = EXPLANATIONS.WorkflowTimedOut!;
EXPLANATIONS.TerminatedFailure = EXPLANATIONS.WorkflowTerminated!;

export function explainFailure(type: string): string | null {
  return Object.hasOwn(EXPLANATIONS, type) ? EXPLANATIONS[type]! : null;
}
