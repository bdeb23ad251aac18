/** A pipeline's static details in the Temporal UI: what it runs, with which inputs, within what. */
import { usd } from '../shared/budget';
import { humanDuration } from '../shared/duration';
import { kindOf, type PipelineSpec } from '../shared/pipeline';
import type { PipelineRequest } from '../workflows/pipeline';

const excerpt = (value: unknown): string => {
  const text = (typeof value === 'string' ? value : JSON.stringify(value)) ?? '';
  return (text.length > 200 ? `${text.slice(0, 197)}...` : text).replace(/\n/g, ' ');
};

/** Markdown: the steps (model or approval, fan-out, needs), the inputs, the ceiling, budget, cache and rerun. */
export function pipelineStaticDetails(
  spec: PipelineSpec,
  timeoutMs: number,
  request: PipelineRequest,
): string {
  const lines = [`**Pipeline:** ${spec.name}${spec.description ? ` — ${excerpt(spec.description)}` : ''}  `];
  lines.push(
    `**Ceiling:** ${humanDuration(timeoutMs)} · **Failure:** ${spec.failure}${spec.budget ? ` · **Budget:** ${usd(spec.budget.usd)}` : ''}  `,
  );
  const cache = request.cache ?? spec.cache;
  if (cache !== undefined || Object.values(spec.steps).some((s) => s.cache !== undefined))
    lines.push(
      `**Result cache:** ${request.cache !== undefined ? `${request.cache ? 'on' : 'off'} for every step` : 'as each step says'}  `,
    );
  if (request.rerun)
    lines.push(
      `**Rerun of:** ${request.rerun.pipelineId}${request.rerun.from ? ` from step ${request.rerun.from}` : ' (unchanged steps reused)'}  `,
    );
  lines.push('', '**Steps**', '');
  for (const [name, step] of Object.entries(spec.steps)) {
    const kind = kindOf(step);
    const what =
      kind.name === 'approve'
        ? `approval: ${excerpt(step.approve?.message)} (${step.approve?.timeout}, then ${step.approve?.onTimeout})`
        : `${step.deployment ? 'deployment ' : ''}${step.model ?? step.deployment}${step.count ? ` ×${step.count}` : ''}${step.foreach ? ` for each of ${step.foreach.trim()}` : ''}`;
    lines.push(`- **${name}:** ${what}${step.needs?.length ? ` (after ${step.needs.join(', ')})` : ''}`);
  }
  if (Object.keys(spec.inputs).length > 0) {
    lines.push('', '**Inputs**', '');
    for (const [key, value] of Object.entries(spec.inputs)) lines.push(`- **${key}:** ${excerpt(value)}`);
  }
  return lines.join('\n');
}
