/**
 * What the page's buttons do, each validated as the CLI validates it: cancel a run or a pipeline (the client's
 * cancelPrediction / cancelPipeline), approve or reject a step that waits for approval (the pipeline's
 * `approveStep` Update), rerun a closed pipeline from a step (`rerunPipeline`, when the application provides it).
 * Each answers with a notice to show, or a WebActionError (an HTTP status and a one-line reason).
 *
 * TODO(approvals, rerun): `runPipeline` has neither approval steps (the `waiting` status, the `approveStep` Update)
 * nor a `rerunPipeline` client helper yet; the buttons are built against those names and the approve path is tested
 * against a stand-in workflow (test/ui/fixtures/approval-workflow.ts). When they land: pass the real
 * `rerunPipeline` by default in src/cli/web.ts, and point the approve test at the real `runPipeline`.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { cancelPipeline } from '../client/pipeline';
import { cancelPrediction } from '../client/prediction';
import { workflowIdProblem } from '../shared/ids';
import type { PipelineView } from './read/pipeline';

/** The arguments of the pipeline's `approveStep` Update. */
export interface ApproveStepArgs {
  step: string;
  approve: boolean;
  reason?: string;
  by?: string;
}

/** Rerun a pipeline (the client's `rerunPipeline`): resolves to the new pipeline's workflow id. */
export type RerunPipeline = (
  client: Client,
  pipelineId: string,
  options: { from?: string },
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
  approved: 'Approved: the step starts.',
  rejected: 'Rejected: the step will not run.',
  'rerun-started': 'Rerun started.',
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

/** Approve or reject `step` of a running pipeline, once it waits for approval. */
export async function approveStep(
  client: Client,
  view: PipelineView,
  form: URLSearchParams,
  by: string,
): Promise<Notice> {
  const step = form.get('step') ?? '';
  const approve = form.get('approve');
  const reason = (form.get('reason') ?? '').trim();
  if (!view.spec || !Object.hasOwn(view.spec.steps, step))
    throw new WebActionError(400, `step: "${step}" is not a step of pipeline ${view.workflowId}`);
  if (approve !== 'true' && approve !== 'false')
    throw new WebActionError(400, 'approve: must be true or false');
  if (reason.length > MAX_REASON_LENGTH)
    throw new WebActionError(400, `reason: at most ${MAX_REASON_LENGTH} characters`);
  if (view.workflowStatus !== 'RUNNING')
    throw new WebActionError(409, `pipeline ${view.workflowId} has ended: nothing waits for approval`);
  // `waiting`: a step held for approval (the approval steps of a pipeline spec)
  const status: string | undefined = view.report?.steps[step]?.status;
  if (status !== 'waiting')
    throw new WebActionError(409, `step ${step} is ${status ?? 'unknown'}, not waiting for approval`);
  const args: ApproveStepArgs = { step, approve: approve === 'true', by, ...(reason ? { reason } : {}) };
  await client.workflow.getHandle(view.workflowId).executeUpdate(APPROVE_STEP_UPDATE, { args: [args] });
  return args.approve ? 'approved' : 'rejected';
}

/** Rerun a closed pipeline from `from` (a step of its spec). */
export async function rerunFrom(
  client: Client,
  rerun: RerunPipeline,
  view: PipelineView,
  form: URLSearchParams,
): Promise<string> {
  const from = form.get('from') ?? '';
  if (!view.spec || !Object.hasOwn(view.spec.steps, from))
    throw new WebActionError(400, `from: "${from}" is not a step of pipeline ${view.workflowId}`);
  if (view.workflowStatus === 'RUNNING')
    throw new WebActionError(409, `pipeline ${view.workflowId} is still running: rerun it once it has ended`);
  return (await rerun(client, view.workflowId, { from })).workflowId;
}
