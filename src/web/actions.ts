/**
 * What the page's buttons do, each validated as the CLI validates it: cancel a run or a pipeline (the client's
 * cancelPrediction / cancelPipeline), approve or reject a step that waits for approval (the client's `approveStep`:
 * the pipeline's `approveStep` Update, whose validator refuses an unknown step, a step that is not an approval, not
 * waiting or already decided, with nothing changed), rerun a closed pipeline, from a step or reusing what succeeded
 * (the client's `rerunPipeline`). Each answers with a notice to show, or a WebActionError (an HTTP status and a
 * one-line reason).
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { approveStep as approveStepUpdate } from '../client/approve';
import { cancelPipeline } from '../client/pipeline';
import { cancelPrediction } from '../client/prediction';
import type { RerunOptions } from '../client/rerun';
import { PipelineSpecError } from '../shared/pipeline';
import { workflowIdProblem } from '../shared/ids';
import type { ApproveStepArgs } from '../workflows/pipeline';
import type { PipelineView } from './read/pipeline';

export type { ApproveStepArgs } from '../workflows/pipeline';

/** Rerun a pipeline (the client's `rerunPipeline`, the default): resolves to the new pipeline's workflow id. */
export type RerunPipeline = (
  client: Client,
  pipelineId: string,
  options: Pick<RerunOptions, 'from'>,
) => Promise<{ workflowId: string }>;

export const APPROVE_STEP_UPDATE = 'approveStep';
export const MAX_REASON_LENGTH = 500;

export class WebActionError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The notices an action leaves (by code, so a link can never make the page say something else). */
export const NOTICES = {
  'cancel-requested': 'Cancel requested: the run cancels its predictions at Replicate, then ends canceled.',
  'already-ended': 'It had already ended: nothing to cancel.',
  approved: 'Approved: the step succeeds and the steps after it start.',
  rejected: 'Rejected: the step fails and the steps that need it are skipped.',
  'rerun-started': 'Rerun started: the steps it reuses cost nothing.',
} as const;
export type Notice = keyof typeof NOTICES;

export function checkWorkflowId(id: string): void {
  const problem = workflowIdProblem(id, 'workflow id');
  if (problem) throw new WebActionError(400, problem);
}

/** Cancel a running `runPrediction` or `runPipeline`; an ended one is left as it is. */
export async function cancelWorkflow(
  client: Client,
  workflowId: string,
  kind: 'runPrediction' | 'runPipeline',
): Promise<Notice> {
  checkWorkflowId(workflowId);
  let description;
  try {
    description = await client.workflow.getHandle(workflowId).describe();
  } catch (error) {
    if (error instanceof WorkflowNotFoundError)
      throw new WebActionError(404, `no workflow with id "${workflowId}"`);
    throw error;
  }
  if (description.type !== kind)
    throw new WebActionError(400, `workflow ${workflowId} is a ${description.type}, not a ${kind}`);
  if (description.status.name !== 'RUNNING') return 'already-ended';
  try {
    await (kind === 'runPipeline' ? cancelPipeline : cancelPrediction)(client, workflowId);
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return 'already-ended'; // it closed in between
    throw error;
  }
  return 'cancel-requested';
}

/**
 * Approve or reject `step` of a running pipeline. The form's fields are checked here; whether the step exists, is
 * an approval step and waits undecided, the pipeline's Update validator decides (as for `pipeline approve`).
 */
export async function approveStep(
  client: Client,
  view: PipelineView,
  form: URLSearchParams,
  by: string,
): Promise<Notice> {
  const step = form.get('step') ?? '';
  const approve = form.get('approve');
  const reason = (form.get('reason') ?? '').trim();
  if (step === '' || step.length > 200) throw new WebActionError(400, 'step: the name of the step to decide');
  if (approve !== 'true' && approve !== 'false')
    throw new WebActionError(400, 'approve: must be true or false');
  if (reason.length > MAX_REASON_LENGTH)
    throw new WebActionError(400, `reason: at most ${MAX_REASON_LENGTH} characters`);
  const ended = () =>
    new WebActionError(409, `pipeline ${view.workflowId} has ended: nothing waits for a decision`);
  if (view.workflowStatus !== 'RUNNING') throw ended();
  const args: ApproveStepArgs = { step, approve: approve === 'true', by, ...(reason ? { reason } : {}) };
  try {
    await approveStepUpdate(client, view.workflowId, args);
  } catch (error) {
    // the validator refused it: nothing is in the history, nothing changed
    if (error instanceof WorkflowUpdateFailedError)
      throw new WebActionError(409, `${error.cause?.message ?? error.message}; nothing was changed`);
    if (error instanceof WorkflowNotFoundError) throw ended(); // it closed in between
    throw error;
  }
  return args.approve ? 'approved' : 'rejected';
}

/**
 * Rerun a closed pipeline: from `from` (a step of its spec: it and what depends on it run anew), or with no `from`
 * reusing every step that succeeded unchanged. Resolves to the new pipeline's id.
 */
export async function rerunFrom(
  client: Client,
  rerun: RerunPipeline,
  view: PipelineView,
  form: URLSearchParams,
): Promise<string> {
  const from = form.get('from') ?? '';
  if (from !== '' && view.spec && !Object.hasOwn(view.spec.steps, from))
    throw new WebActionError(
      400,
      `from: "${from}" is not a step of pipeline ${view.workflowId}; its steps are ${Object.keys(view.spec.steps).join(', ')}`,
    );
  if (view.workflowStatus === 'RUNNING')
    throw new WebActionError(409, `pipeline ${view.workflowId} is still running: rerun it once it has ended`);
  try {
    return (await rerun(client, view.workflowId, from !== '' ? { from } : {})).workflowId;
  } catch (error) {
    // rerunPipeline's refusals: a `from` that is not a step, an id that is not a pipeline, a spec that no longer validates
    if (error instanceof TypeError || error instanceof PipelineSpecError)
      throw new WebActionError(400, error.message);
    throw error;
  }
}
