/** `status`, `result` and `cancel`: one run by its workflow id. */
import { WorkflowNotFoundError } from '@temporalio/client';
import { predictionOutcome } from '../client/outcome';
import type { PredictionHandle } from '../client/prediction';
import { predictionState } from '../client/state';
import { jobCost } from '../shared/budget';
import type { runPrediction } from '../workflows';
import type { CliContext } from './context';
import { EXIT } from './errors';
import { printState } from './render';
import { UsageError, parseFor } from './usage';
import { awaitOutcome, noWorkerProblem } from './waiting';

export async function idCommand(
  command: 'status' | 'result' | 'cancel',
  args: string[],
  ctx: CliContext,
): Promise<number> {
  const { values, positionals } = parseFor(command, args, { json: { type: 'boolean' } }, true);
  if (positionals.length !== 1) throw new UsageError(`${command} takes one workflow id`, command);
  const client = await ctx.client();
  const workflowId = positionals[0]!;
  const json = values.json ?? false;

  const handle: PredictionHandle = client.workflow.getHandle<typeof runPrediction>(workflowId);
  if (command === 'cancel') return cancelCommand(handle, json, ctx);
  if (command === 'result') return awaitOutcome(handle, json, ctx);

  const description = await handle.describe();
  const state = await predictionState(handle);
  const warning =
    description.status.name === 'RUNNING' ? await noWorkerProblem(client, description.taskQueue) : null;
  if (json) {
    ctx.out(
      JSON.stringify({
        workflowId: handle.workflowId,
        workflowStatus: description.status.name,
        ...state,
        // the running cost and the budget left, now (the state holds the price and started_at)
        ...(state?.budget ? { cost: jobCost(state.budget, Date.now()) } : {}),
        ...(warning ? { warning } : {}),
      }),
    );
  } else {
    ctx.out(`workflow ${handle.workflowId}: ${description.status.name}`);
    if (state) printState(state, ctx);
    if (warning) ctx.out(`warning: ${warning}`);
  }
  return EXIT.ok;
}

/**
 * `cancel ID`: exit 0 once the run has stopped, whether this cancel stopped it (the workflow cancels its
 * prediction at Replicate) or it had already ended; either way the line names how it ended.
 */
async function cancelCommand(handle: PredictionHandle, json: boolean, ctx: CliContext): Promise<number> {
  const id = handle.workflowId;
  const alreadyEnded = async (): Promise<number> => {
    const summary = await predictionOutcome(handle, { claims: ctx.claims });
    ctx.out(
      json
        ? JSON.stringify(summary)
        : `workflow ${id} had already ended (${summary.status}): nothing to cancel`,
    );
    return EXIT.ok;
  };
  if ((await handle.describe()).status.name !== 'RUNNING') return alreadyEnded();
  try {
    await handle.cancel();
  } catch (error) {
    // it closed between the describe and the cancel
    if (error instanceof WorkflowNotFoundError) return alreadyEnded();
    throw error;
  }
  if (!json) ctx.out(`cancel requested for ${id}; waiting for the run to cancel its prediction...`);
  return awaitOutcome(handle, json, ctx, false, (summary) => {
    if (json) ctx.out(JSON.stringify(summary));
    else if (summary.status === 'canceled')
      ctx.out(
        `canceled: workflow ${id}${summary.predictionId ? ` and prediction ${summary.predictionId} at Replicate` : ' (before any prediction was created)'}`,
      );
    else ctx.out(`workflow ${id} ended (${summary.status}) before the cancel reached it`);
    return EXIT.ok;
  });
}
