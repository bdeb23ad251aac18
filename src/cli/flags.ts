/** Flag values checked before anything is sent: the ceiling, ids, the model input. */
import { ceilingMs } from '../client/options';
import { workflowIdProblem } from '../shared/ids';
import type { CliContext } from './context';
import { UsageError } from './usage';

/** The ceiling flag of run, start and pipeline run: 10 s to 168 h. */
export function parseCeiling(text: string | number, command: string): number {
  try {
    return ceilingMs(text, text);
  } catch (error) {
    throw new UsageError(`--timeout: ${(error as Error).message}`, command);
  }
}

export function checkId(id: string | undefined, flag: string, command: string): void {
  const problem = id === undefined ? null : workflowIdProblem(id, flag);
  if (problem) throw new UsageError(problem, command);
}

/** `--input`: a JSON object, inline or `@file.json`. */
export function parseInput(text: string, ctx: CliContext, command: string): Record<string, unknown> {
  let source = text;
  if (text.startsWith('@')) {
    if (!ctx.readFile) throw new UsageError('--input @file is not supported here', command);
    try {
      source = ctx.readFile(text.slice(1));
    } catch (error) {
      throw new UsageError(`--input: cannot read ${text.slice(1)}: ${(error as Error).message}`, command);
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(source);
  } catch (error) {
    throw new UsageError(
      `--input is not valid JSON (${(error as Error).message}); quote it, e.g. --input '{"prompt": "a cat"}'`,
      command,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(
      `--input must be a JSON object such as {"prompt": "a cat"}, got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`,
      command,
    );
  }
  return value as Record<string, unknown>;
}
