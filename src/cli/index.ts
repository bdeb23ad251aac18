/**
 * The CLI: `npm run -s client -- <command>` (entry: main.ts). One module per command (run.ts, job.ts,
 * pipeline.ts, reconcile.ts, codec-server.ts, web.ts) over the typed helpers of src/client; usage.ts holds every usage line and help text,
 * render.ts how things are shown, waiting.ts what a waiting command does. `<command> --help` lists the flags.
 *
 * Exit codes: 0 succeeded; 1 the prediction failed, was canceled, aborted, timed out or was terminated; 2 usage or
 * configuration (also: Temporal unreachable, a start the server refused); 130 Ctrl-C (the run continues).
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { ClaimStore } from '../activities/claims';
import { predictionOutcome, type RunSummary } from '../client/outcome';
import type { PredictionHandle } from '../client/prediction';
import { ConfigError } from '../config';
import { temporalUnreachable } from '../dev/hints';
import type { CliContext } from './context';
import { CliError, EXIT, addressOfClient, grpcReason, isUnavailable } from './errors';
import { codecServerCommand } from './codec-server';
import { idCommand } from './job';
import { pipelineCommand } from './pipeline';
import { reconcileCommand } from './reconcile';
import { startCommand } from './run';
import { webCommand } from './web';
import { CLI, COMMANDS, USAGE, UsageError, closest, commandHelp, usageAfterError, wantsHelp } from './usage';

export { EXIT } from './errors';
export { connectLazily } from './connect';
export { closest, USAGE } from './usage';
export { newLines, terminalLine } from './render';
export { RECONCILE_SCHEDULE_ID } from '../client/temporal-setup';
export type { CliContext } from './context';
export type { RunSummary } from '../client/outcome';
export type { PipelineSummary } from '../client/pipeline';

/** Run one command line (without the program name); resolves to its exit code. Prints through `ctx`. */
export async function runCli(argv: string[], ctx: CliContext): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'help' && rest[0] !== undefined) return await runCli([...rest, '--help'], ctx);
    const name =
      command === 'pipeline' && ['run', 'status', 'rerun', 'approve'].includes(rest[0] ?? '')
        ? `pipeline ${rest[0]}`
        : command;
    if (name !== undefined && COMMANDS[name] && wantsHelp(rest)) {
      ctx.out(commandHelp(name));
      return EXIT.ok;
    }
    switch (command) {
      case 'run':
      case 'start':
        return await startCommand(command, rest, ctx);
      case 'status':
      case 'result':
      case 'cancel':
        return await idCommand(command, rest, ctx);
      case 'reconcile':
        return await reconcileCommand(rest, ctx);
      case 'pipeline':
        return await pipelineCommand(rest, ctx);
      case 'codec-server':
        return await codecServerCommand(rest, ctx);
      case 'web':
        return await webCommand(rest, ctx);
      case 'worker': // main.ts runs it in the process; a CLI embedded in another process (tests, the demo) cannot
        throw new UsageError(`the worker runs as its own process: ${CLI} worker`);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        ctx.out(USAGE);
        return command === undefined ? EXIT.usage : EXIT.ok;
      default: {
        const guess = closest(command, [...Object.keys(COMMANDS).filter((c) => !c.includes(' ')), 'help']);
        throw new UsageError(
          `unknown command "${command}"${guess ? `; did you mean ${guess}?` : `; see ${CLI} --help`}`,
        );
      }
    }
  } catch (error) {
    if (error instanceof UsageError) {
      ctx.err(`error: ${error.message}\n${usageAfterError(error.command)}`);
      return EXIT.usage;
    }
    if (error instanceof ConfigError || error instanceof CliError) {
      ctx.err(`error: ${error.message}`);
      return EXIT.usage;
    }
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      ctx.err(
        `error: a workflow with id "${error.workflowId}" is already running; pick another --workflow-id`,
      );
      return EXIT.usage;
    }
    if (error instanceof WorkflowNotFoundError) {
      ctx.err(`error: no workflow with id "${error.workflowId}"`);
      return EXIT.usage;
    }
    if (isUnavailable(error)) {
      const address = await ctx
        .client()
        .then(addressOfClient)
        .catch(() => 'the configured address');
      ctx.err(`error: ${temporalUnreachable(address, grpcReason(error))}`);
      return EXIT.usage;
    }
    throw error;
  }
}

/** The outcome of a run as the `--json` object (predictionOutcome of src/client). */
export function outcomeOf(handle: PredictionHandle, claims?: ClaimStore): Promise<RunSummary> {
  return predictionOutcome(handle, { claims });
}
