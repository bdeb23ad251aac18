/** How the CLI shows things: a run's state and outcome, a pipeline's steps, the live line on a terminal. */
import type { PipelineSummary } from '../client/pipeline';
import type { RunSummary } from '../client/outcome';
import { budgetLine, pipelineBudgetLine, usd } from '../shared/budget';
import { humanDuration } from '../shared/duration';
import { queuedLine } from '../shared/slots';
import type { PredictionState } from '../shared/types';
import type { ApprovalProgress, PipelineResult, ReusedRun } from '../workflows/pipeline';
import { approveCommand } from '../workflows/steps/details';
import type { CliContext } from './context';
import { CLI } from './usage';

/** The lines of `next` (a log tail) that come after what `previous` (the tail seen before) already showed. */
export function newLines(previous: string[], next: string[]): string[] {
  for (let k = Math.min(previous.length, next.length); k > 0; k--) {
    if (previous.slice(previous.length - k).every((line, i) => line === next[i])) return next.slice(k);
  }
  return next;
}

export const plural = (n: number, word: string) => `${word}${n === 1 ? '' : 's'} ${n}`;

/** Time since `started`, right-aligned in the 7 columns progress lines start with. */
export const elapsedSince = (started: number) => humanDuration(Date.now() - started).padStart(7);

/** `status ID`: the run's state, one field a line. */
export function printState(state: PredictionState, ctx: CliContext): void {
  ctx.out(`  model       ${state.model}`);
  ctx.out(
    `  prediction  ${state.predictionId ?? '(not created yet)'}${state.webUrl ? `  ${state.webUrl}` : ''}`,
  );
  ctx.out(`  status      ${state.status}  after ${state.polls} polls`);
  if (state.queue) ctx.out(`  ${queuedLine(state.queue)}`);
  if (state.nextPollAt) ctx.out(`  next poll   ${state.nextPollAt}`);
  ctx.out(`  started     ${state.startedAt}${state.completedAt ? `, completed ${state.completedAt}` : ''}`);
  ctx.out(`  deadline    ${state.deadline}`);
  if (state.budget) ctx.out(`  budget      ${budgetLine(state.budget, Date.now()).replace(/^budget /, '')}`);
  if (state.error) ctx.out(`  error       ${state.error}`);
  for (const line of state.logsTail.slice(-5)) ctx.out(`  | ${line}`);
}

/** An output as lines: a URL (or a list of them) one per line, anything else as indented JSON. */
export function formatOutput(output: unknown): string {
  if (typeof output === 'string') return `  ${output}`;
  if (Array.isArray(output) && output.every((o) => typeof o === 'string'))
    return output.map((o) => `  ${o}`).join('\n');
  return JSON.stringify(output, null, 2);
}

/** The end of `run`/`result`/`cancel`: the output on stdout, or the failure and its last log lines on stderr. */
export function printRunOutcome(
  summary: RunSummary,
  elapsed: string,
  ctx: CliContext,
  shownLogs: ReadonlySet<string> = new Set(),
): void {
  if (summary.status === 'succeeded') {
    ctx.out(
      `${elapsed}  succeeded  prediction ${summary.predictionId}` +
        (summary.metrics?.predict_time !== undefined
          ? `  (predict_time ${summary.metrics.predict_time}s)`
          : ''),
    );
    if (summary.cached) ctx.out(`  cached: the result of ${summary.cached.workflowId} (nothing created, $0)`);
    ctx.out('output:');
    ctx.out(formatOutput(summary.output));
    if (summary.files?.length) {
      ctx.out('kept files:');
      for (const f of summary.files) ctx.out(`  ${f.url ?? f.path}`);
    }
    if (summary.keepError) ctx.err(`warning: the output files were not kept: ${summary.keepError}`);
  } else {
    ctx.err(`${summary.status}: ${summary.error?.message ?? 'unknown error'}`);
    // the last log lines, unless the progress already printed them
    for (const line of summary.error?.logsTail?.slice(-5) ?? [])
      if (!shownLogs.has(line)) ctx.err(`  | ${line}`);
  }
}

/** `pipeline status ID`: a title, then one line per step (and what waits for a decision, with the command). */
export function printPipeline(r: PipelineResult, ctx: CliContext, title: string): void {
  ctx.out(title);
  if (r.cost.budget) ctx.out(`  ${pipelineBudgetLine(r.cost.budget, Date.now())}`);
  for (const [name, s] of Object.entries(r.steps)) {
    const elapsed = s.elapsedMs !== null ? ` ${humanDuration(s.elapsedMs)}` : '';
    ctx.out(
      `  ${name}: ${s.status}${elapsed}${s.predictionIds.length ? `  ${s.predictionIds.join(', ')}` : ''}${reusedNote(s.reused)}${decisionNote(s.approval)}${s.error ? `  (${s.error})` : ''}`,
    );
    for (const line of s.queued ?? []) ctx.out(`    ${line}`);
    if (s.status === 'waiting' && s.approval) {
      ctx.out(
        `    waiting for a decision until ${s.approval.deadline} (then ${s.approval.onTimeout}): ${s.approval.message}`,
      );
      ctx.out(`    decide: ${approveCommand(r.pipelineId, name, CLI)}`);
    }
  }
}

/** `  (reused from ID)` / `  (cached: 2 from ID)` for a step an earlier result served, else ''. */
export function reusedNote(reused: ReusedRun[] | undefined): string {
  if (!reused?.length) return '';
  const from = [...new Set(reused.map((r) => r.pipelineId))].join(', ');
  const cached = reused.filter((r) => r.how === 'cache').length;
  const parts = [
    ...(reused.length > cached ? [`reused ${reused.length - cached} from ${from}`] : []),
    ...(cached > 0 ? [`cached ${cached}`] : []),
  ];
  return `  (${parts.join(', ')}${cached > 0 && reused.length === cached ? ` from ${from}` : ''}, $0)`;
}

function decisionNote(approval: ApprovalProgress | undefined): string {
  const d = approval?.decision;
  if (!d) return '';
  return `  (${d.approved ? 'approved' : 'rejected'} by ${d.by}${d.reason ? `: ${d.reason}` : ''})`;
}

/** A step's progress line while `pipeline run` waits: its status, prediction ids, reuse, what it waits for. */
export function stepLine(step: PipelineResult['steps'][string], pipelineId?: string, name?: string): string {
  const waiting =
    step.status === 'waiting' && step.approval && pipelineId && name
      ? `  ${step.approval.message} (decide: ${approveCommand(pipelineId, name, CLI)})`
      : '';
  return `${step.status}${step.predictionIds.length ? `  ${step.predictionIds.join(', ')}` : ''}${reusedNote(step.reused)}${decisionNote(step.approval)}${waiting}${step.queued?.length ? `  (${step.queued.join('; ')})` : ''}`;
}

/** The end of `pipeline run`: each step with its files (or outputs), the cost and the manifest. */
export function printPipelineOutcome(summary: PipelineSummary, elapsed: string, ctx: CliContext): void {
  ctx.out(`${elapsed}  pipeline ${summary.status}`);
  for (const [name, step] of Object.entries(summary.steps)) {
    ctx.out(`  ${name}: ${step.status}${reusedNote(step.reused)}${step.error ? ` (${step.error})` : ''}`);
    for (const file of step.files.length
      ? step.files
      : step.outputs.map((o) => (typeof o === 'string' ? o : JSON.stringify(o))))
      ctx.out(`    ${file}`);
  }
  if (summary.cost)
    ctx.out(
      `cost: ${summary.cost.totalPredictTime}s predict_time${summary.cost.estimatedUsd !== null ? `, ~$${summary.cost.estimatedUsd}` : ''}`,
    );
  const budget = summary.cost?.budget;
  if (budget)
    ctx.out(
      `budget ${usd(budget.usd)}: completed ${usd(budget.completedUsd)}, canceled ${usd(budget.canceledUsd)}${budget.exceeded ? ` (reached: ${budget.exceeded.predictionIds.length} running jobs canceled in ${budget.exceeded.steps.join(', ')})` : ''}`,
    );
  if (summary.manifest) ctx.out(`manifest: ${summary.manifest}`);
  if (summary.error && summary.status !== 'failed') ctx.err(`${summary.status}: ${summary.error.message}`);
}

/** The live line on a terminal: rewritten in place, cut to the width so it never wraps. */
export function terminalLine(stream: NodeJS.WriteStream): (line: string | null) => void {
  let shown = false;
  return (line) => {
    if (line === null) {
      if (shown) stream.write('\r\x1b[2K');
      shown = false;
      return;
    }
    const width = Math.max(20, (stream.columns ?? 80) - 1);
    stream.write(`\r\x1b[2K${line.length > width ? `${line.slice(0, width - 1)}…` : line}`);
    shown = true;
  };
}
