/** `status`, `result` and `cancel`: one run by its workflow id. */
import { cancelPrediction, type PredictionHandle } from '../client/prediction';
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

  if (command === 'cancel') {
    const handle = await cancelPrediction(client, workflowId);
    if (!json)
      ctx.out(`cancel requested for ${handle.workflowId}; waiting for the prediction to be canceled...`);
    return awaitOutcome(handle, json, ctx, false);
  }
  const handle: PredictionHandle = client.workflow.getHandle<typeof runPrediction>(workflowId);
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
        // budgets-v1: the running cost and the budget left, now (the state holds the price and started_at)
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
