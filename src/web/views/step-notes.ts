/**
 * What a step's card says beyond its runs: an approval step's decision (who, when, why) or, while it waits, until
 * when, the buttons and the command that decide it; a reused or cached step's source (the earlier pipeline and
 * step, its predictions), at $0.
 */
import { SINGLE_RUN_STEP } from '../../activities/output-files/keep';
import type { Decision } from '../../shared/pipeline';
import type { StepProgress } from '../../workflows/pipeline';
import { approveCommand } from '../../workflows/steps/details';
import { html, type Html } from '../html';
import { reuseSources } from '../step-word';
import { pipelineHref, runHref, type ViewContext } from './context';
import { actionForm } from './layout';
import { moment } from './format';

/** An approval step's decision: the one it waited for, or (reused) the earlier run's, which is its output. */
export function decisionOf(s: StepProgress): Decision | null {
  if (s.approval?.decision) return s.approval.decision;
  const out = s.outputs[0] as Partial<Decision> | undefined;
  return s.kind === 'approve' && out && typeof out.approved === 'boolean' && typeof out.by === 'string'
    ? (out as Decision)
    : null;
}

/** Who decided, when and why; a timeout says it was nobody. */
export function decisionNote(d: Decision): Html {
  const verdict = d.approved ? 'Approved' : 'Rejected';
  return html`<p class="decision ${d.approved ? 'ok' : 'bad'}">
    ${
      d.timedOut
        ? html`${verdict} by its timeout: nobody decided by ${moment(d.at)}.`
        : html`${verdict} by <strong>${d.by}</strong> ${moment(d.at)}${d.reason ? html`: ${d.reason}` : '.'}`
    }
  </p>`;
}

/** A waiting approval step: since when, until when and what then, the buttons (when on) and the command. */
export function waitingNote(pipelineId: string, name: string, s: StepProgress, ctx: ViewContext): Html {
  const a = s.approval;
  const action = `${pipelineHref(ctx, pipelineId)}/approve`;
  const step = html`<input type="hidden" name="step" value="${name}" />`;
  const verdict = a?.onTimeout === 'approve' ? 'approved' : 'rejected';
  return html`<div class="approval">
    <p>
      Waits for a
      decision${a ? html`: asked ${moment(a.waitingSince)}; if nobody decides, it is ${verdict} ${moment(a.deadline)}` : ''}.
    </p>
    ${
      ctx.approvals
        ? html`${actionForm(action, ctx.csrf, `Approve ${name}`, {
            fields: html`${step}<input type="hidden" name="approve" value="true" />`,
          })}
          ${actionForm(action, ctx.csrf, `Reject ${name}`, {
            fields: html`${step}<input type="hidden" name="approve" value="false" />
              <label>Reason <input type="text" name="reason" maxlength="500" /></label>`,
            className: 'danger',
          })}`
        : ''
    }
    <p class="command">From a terminal: <code>${approveCommand(pipelineId, name, ctx.cli)}</code></p>
  </div>`;
}

/** Where the runs an earlier result served came from (a link to it), and that they cost nothing. */
export function reuseNote(s: StepProgress, ctx: ViewContext): Html {
  const sources = reuseSources(s.reused);
  if (sources.length === 0) return html``;
  return html`<ul class="reused">
    ${sources.map((r) => {
      // a cached single run's result lives under its run's id; everything else under a pipeline's
      const href =
        r.how === 'cache' && r.step === SINGLE_RUN_STEP
          ? runHref(ctx, r.pipelineId)
          : `${pipelineHref(ctx, r.pipelineId)}#step-${r.step}`;
      const predictions = r.predictionIds.map((id, i) => html`${i ? ', ' : ''}<code>${id}</code>`);
      const what = `${r.how === 'cache' ? 'Cached' : 'Reused'}: ${s.runs > 1 ? `${r.runs} of ${s.runs} runs ` : ''}from`;
      return html`<li>
        ${what} <a href="${href}">${r.pipelineId}</a> (step
        ${r.step}${predictions.length ? html`, ${predictions}` : ''}), no prediction created, $0
      </li>`;
    })}
  </ul>`;
}
