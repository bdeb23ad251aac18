/** `run` and `start`: one prediction, waited for (with its progress) or only started. */
import { DEFAULT_CEILING_MS } from '../shared/ceiling';
import { newWorkflowId } from '../client/options';
import { predictionIdPrefix, startPrediction } from '../client/prediction';
import { humanDuration } from '../shared/duration';
import type { PredictionRequest } from '../shared/types';
import { validateRequest } from '../shared/validate';
import { startWorkflow } from './connect';
import type { CliContext } from './context';
import { EXIT } from './errors';
import { checkId, parseCeiling, parseInput } from './flags';
import { CLI, UsageError, parseFor } from './usage';
import { awaitOutcome } from './waiting';
import { BUDGET_OPTIONS, parseBudgetFlags } from './budget';

const RUN_OPTIONS = {
  model: { type: 'string' },
  input: { type: 'string' },
  deployment: { type: 'boolean' },
  timeout: { type: 'string' },
  'workflow-id': { type: 'string' },
  json: { type: 'boolean' },
  cache: { type: 'boolean' },
  'no-persist': { type: 'boolean' },
  ...BUDGET_OPTIONS,
} as const;

export async function startCommand(
  command: 'run' | 'start',
  args: string[],
  ctx: CliContext,
): Promise<number> {
  const { values } = parseFor(command, args, RUN_OPTIONS, false);
  if (!values.model) throw new UsageError('--model is required', command);
  if (values.input === undefined)
    throw new UsageError('--input is required (a JSON object, e.g. \'{"prompt": "..."}\')', command);
  const input = parseInput(values.input, ctx, command);
  const timeoutMs = parseCeiling(values.timeout ?? DEFAULT_CEILING_MS, command);
  const request: PredictionRequest = {
    model: values.model,
    input,
    deployment: values.deployment ?? false,
    ...parseBudgetFlags(values, values.model, ctx, command),
    ...(values['no-persist'] ? { persist: false } : {}),
    ...(values.cache ? { cache: true } : {}),
  };
  if (values.cache && values['no-persist'])
    throw new UsageError(
      '--cache reuses kept results and keeps its own: it cannot go with --no-persist',
      command,
    );
  const problems = validateRequest(request);
  if (problems.length > 0) throw new UsageError(problems.join('; '), command);
  checkId(values['workflow-id'], '--workflow-id', command);

  const client = await ctx.client();
  const workflowId = values['workflow-id'] ?? newWorkflowId(predictionIdPrefix(values.model));
  const handle = await startWorkflow(client, workflowId, ctx, () =>
    startPrediction(client, request, { taskQueue: ctx.taskQueue, workflowId, timeout: timeoutMs }),
  );
  if (command === 'start') {
    ctx.out(values.json ? JSON.stringify({ workflowId, runId: handle.firstExecutionRunId }) : workflowId);
    if (!values.json) {
      ctx.err(`next: ${CLI} result ${workflowId}    wait for it, showing its progress`);
      ctx.err(`      ${CLI} status ${workflowId}    its state now`);
      ctx.err(`      ${CLI} cancel ${workflowId}    cancel it (and its prediction at Replicate)`);
    }
    return EXIT.ok;
  }
  if (!values.json) ctx.out(`workflow ${workflowId} started (timeout ${humanDuration(timeoutMs)})`);
  return awaitOutcome(handle, values.json ?? false, ctx);
}
