/**
 * A pipeline in the Temporal UI: its current details (each step's status, runs, elapsed time and cost, the budget,
 * what waits for a decision and the command that decides) as markdown, rewritten whenever the report changes.
 * Pure: the workflow calls it with its report and the time.
 */
import { pipelineBudgetLine, usd } from '../../shared/budget';
import { humanDuration } from '../../shared/duration';
import { kindOf, type PipelineSpec } from '../../shared/pipeline';
import type { PipelineResult, StepProgress } from './report';

/** The CLI command as a user types it (the package's bin). */
export const CLI_NAME = 'replicate-temporal';

export function pipelineDetails(result: PipelineResult, spec: PipelineSpec, nowMs: number): string {
  const steps = Object.entries(result.steps);
  const done = steps.filter(([, p]) => p.status === 'succeeded').length;
  const usdText = result.cost.estimatedUsd === null ? '' : ` · ~${usd(result.cost.estimatedUsd)}`;
  const lines = [
    `**${overall(result)}** · ${done} of ${steps.length} steps done · ${result.cost.totalPredictTime}s predict_time${usdText}`,
    '',
  ];
  for (const [name, p] of steps) lines.push(`- ${stepLine(name, p, spec)}`);
  for (const [name, p] of steps) {
    if (p.status !== 'waiting' || !p.approval) continue;
    lines.push(
      '',
      `**${name} waits for a decision** (until ${p.approval.deadline}, then ${p.approval.onTimeout}): ${p.approval.message}`,
      '',
      `\`${approveCommand(result.pipelineId, name)}\``,
    );
  }
  if (result.cost.budget) lines.push('', pipelineBudgetLine(result.cost.budget, nowMs));
  return lines.join('\n');
}

/** The command that decides a waiting approval step (`cli`: how the CLI is invoked where it is shown). */
export function approveCommand(pipelineId: string, step: string, cli = CLI_NAME): string {
  return `${cli} pipeline approve ${pipelineId} ${step} [--reject] [--reason TEXT]`;
}

function overall(result: PipelineResult): string {
  const statuses = Object.values(result.steps).map((p) => p.status);
  if (statuses.includes('waiting')) return 'waiting for approval';
  if (statuses.includes('running')) return 'running';
  if (statuses.every((s) => s === 'pending')) return 'starting';
  if (statuses.some((s) => s === 'pending')) return 'running';
  return statuses.every((s) => s === 'succeeded') ? 'succeeded' : 'failed';
}

/** `**generate**: succeeded · 2/2 predictions succeeded · 12.0s · 8.1s predict_time ~$0.02`, reuse and decisions */
export function stepLine(name: string, p: StepProgress, spec: PipelineSpec): string {
  const parts = [`**${name}**: ${p.status}`];
  if (p.kind === 'prediction' && p.runs > 0)
    parts.push(`${p.predictionIds.length}/${p.runs} prediction${p.runs === 1 ? '' : 's'} succeeded`);
  const elapsed =
    p.status === 'running' || p.status === 'waiting'
      ? p.startedAt
        ? `since ${p.startedAt.slice(11, 19)} UTC`
        : null
      : p.elapsedMs !== null
        ? humanDuration(p.elapsedMs)
        : null;
  if (elapsed) parts.push(elapsed);
  const step = Object.hasOwn(spec.steps, name) ? spec.steps[name] : undefined;
  const seconds = p.predictTime;
  if (seconds > 0 && step) {
    const price = kindOf(step).cost(spec, step, seconds);
    parts.push(`${seconds}s predict_time${price === undefined ? '' : ` ~${usd(price)}`}`);
  }
  if (p.reused?.length) {
    const how = p.reused.every((r) => r.how === 'cache') ? 'cached' : 'reused';
    const from = [...new Set(p.reused.map((r) => r.pipelineId))].join(', ');
    parts.push(`${how} ${p.reused.length} from ${from} ($0)`);
  }
  if (p.approval?.decision) {
    const d = p.approval.decision;
    parts.push(`${d.approved ? 'approved' : 'rejected'} by ${d.by}${d.reason ? `: ${d.reason}` : ''}`);
  }
  if (p.error && p.status !== 'succeeded') parts.push(`error: ${p.error}`);
  return parts.join(' · ');
}
