/** A pipeline's page: a summary, its steps as a graph, and one card per step (status, children, outputs, actions). */
import { pipelineBudgetLine } from '../../shared/budget';
import { estimateCost } from '../../shared/pipeline';
import type { StepProgress } from '../../workflows/pipeline';
import { html, type Html } from '../html';
import type { ChildView, PipelineView } from '../read/pipeline';
import { outputContext, pipelineHref, runHref, temporalUiLink, type ViewContext } from './context';
import { badge, duration, money, moment, seconds, since, workflowStatusWord } from './format';
import { graphSvg } from './graph';
import { actionForm, region } from './layout';
import { outputList } from './outputs';
import { decisionNote, decisionOf, reuseNote, waitingNote } from './step-notes';
import { stepWord } from '../step-word';

const ENDED_CHILD = new Set([
  'succeeded',
  'failed',
  'canceled',
  'aborted',
  'terminated',
  'timed out',
  'ended',
]);

/**
 * What a step is doing, in one word: a running step says what its children do (queued, starting, processing); a
 * step an earlier result served says `reused` or `cached`.
 */
export function stepStatus(v: PipelineView, name: string): string {
  const s = v.report?.steps[name];
  const open = v.workflowStatus === 'RUNNING';
  if (!s) return open ? 'pending' : workflowStatusWord(v.workflowStatus);
  if (!open && (s.status === 'running' || s.status === 'pending' || s.status === 'waiting'))
    return workflowStatusWord(v.workflowStatus);
  if (s.status !== 'running') return stepWord(s);
  const kids = s.childWorkflowIds.flatMap((id) => (v.children[id] ? [v.children[id]] : []));
  if (kids.some((k) => k.queued)) return 'queued';
  if (kids.some((k) => k.status === 'processing')) return 'processing';
  if (kids.some((k) => k.status === 'starting' || k.status === 'creating')) return 'starting';
  if (
    kids.length > 0 &&
    kids.length === s.childWorkflowIds.length &&
    kids.every((k) => ENDED_CHILD.has(k.status))
  )
    return 'saving outputs';
  return 'running';
}

export function pipelineRegions(v: PipelineView, ctx: ViewContext): Record<string, Html> {
  const steps = v.order.length > 0 ? v.order : Object.keys(v.report?.steps ?? {});
  const regions: Record<string, Html> = {
    summary: summary(v, ctx),
    actions: actions(v, ctx),
    graph: graphSvg(steps, v.deps, (s) => stepStatus(v, s)),
  };
  for (const name of steps) regions[`step-${name}`] = stepCard(v, name, ctx);
  return regions;
}

export function pipelineBody(v: PipelineView, ctx: ViewContext): Html {
  const regions = pipelineRegions(v, ctx);
  const steps = Object.keys(regions).filter((k) => k.startsWith('step-'));
  return html`<h1>Pipeline ${v.report?.name ?? v.spec?.name ?? ''} <code>${v.workflowId}</code></h1>
    ${region('summary', regions.summary!, 'section')} ${region('actions', regions.actions!)}
    <section aria-labelledby="graph-title">
      <h2 id="graph-title">Steps</h2>
      ${region('graph', regions.graph!)}
    </section>
    <ol class="steps">
      ${steps.map((id) => html`<li>${region(id, regions[id]!, 'section')}</li>`)}
    </ol>`;
}

function summary(v: PipelineView, ctx: ViewContext): Html {
  const open = v.workflowStatus === 'RUNNING';
  const r = v.report;
  const status = open ? 'running' : workflowStatusWord(v.workflowStatus);
  const files = r?.manifest.files.length ?? 0;
  return html`<dl class="facts">
      <dt>Status</dt>
      <dd>${badge(status)}</dd>
      ${
        v.rerunOf
          ? html`<dt>Rerun of</dt>
              <dd>
                <a href="${pipelineHref(ctx, v.rerunOf.pipelineId)}">${v.rerunOf.pipelineId}</a>
                ${v.rerunOf.from ? `from step ${v.rerunOf.from}` : '(what succeeded unchanged is reused)'}
              </dd>`
          : ''
      }
      <dt>Started</dt>
      <dd>${moment(v.startTime)}</dd>
      <dt>${open ? 'Running for' : 'Ended'}</dt>
      <dd>${open ? since(v.startTime) : moment(v.closeTime)}</dd>
      <dt>Predict time</dt>
      <dd>${seconds(r?.cost.totalPredictTime)}</dd>
      <dt>Estimated cost</dt>
      <dd>${money(r?.cost.estimatedUsd)}</dd>
      ${
        r?.cost.budget
          ? html`<dt>Budget</dt>
              <dd>${pipelineBudgetLine(r.cost.budget, Date.now())}</dd>`
          : ''
      }
      <dt>Files</dt>
      <dd>
        ${files}
        kept${
          r && (files > 0 || r.manifest.path)
            ? html` ·
                <a href="${pipelineHref(ctx, v.workflowId)}/manifest.json" download>download the manifest</a>`
            : ''
        }
      </dd>
    </dl>
    ${
      v.failure
        ? html`<div class="error" role="alert">
            <p><strong>${v.failure.type}</strong>: ${v.failure.message}</p>
            ${v.failure.explanation ? html`<p>${v.failure.explanation}</p>` : ''}
          </div>`
        : ''
    }
    ${v.problem ? html`<p class="notice">${v.problem}</p>` : ''}`;
}

/**
 * Its own region: the summary changes every second under a budget, a button being clicked should not. A closed
 * pipeline can be rerun (reusing what succeeded unchanged; each step's card reruns from that step).
 */
function actions(v: PipelineView, ctx: ViewContext): Html {
  const open = v.workflowStatus === 'RUNNING';
  const ui = temporalUiLink(ctx, v.workflowId);
  const rerun = ctx.rerun && !open && v.report !== null;
  return html`<div class="actions">
      ${
        open
          ? actionForm(`${pipelineHref(ctx, v.workflowId)}/cancel`, ctx.csrf, 'Cancel pipeline', {
              confirm: 'Cancel this pipeline and its running predictions?',
              className: 'danger',
            })
          : ''
      }
      ${rerun ? actionForm(`${pipelineHref(ctx, v.workflowId)}/rerun`, ctx.csrf, 'Rerun, reusing what succeeded') : ''}
      ${ui ? html`<a href="${ui}" rel="noreferrer" target="_blank">Open in the Temporal UI</a>` : ''}
    </div>
    ${
      rerun
        ? html`<p class="command">
            From a terminal: <code>${ctx.cli} pipeline rerun ${v.workflowId} [--from STEP]</code>
          </p>`
        : ''
    }`;
}

function stepCard(v: PipelineView, name: string, ctx: ViewContext): Html {
  const s = v.report?.steps[name];
  const spec = v.spec?.steps[name];
  const approval = spec?.approve !== undefined || s?.kind === 'approve';
  const model = spec?.model ?? spec?.deployment ?? null;
  const status = stepStatus(v, name);
  const deps = v.deps[name] ?? [];
  const entries = v.report?.manifest.files.filter((e) => e.step === name) ?? [];
  const usd =
    s && model && v.spec?.prices
      ? estimateCost(v.spec.prices, model, v.report?.cost.predictTime[name] ?? 0)
      : undefined;
  const decision = s ? decisionOf(s) : null;
  return html`<h3>${name} ${badge(status)}</h3>
    <dl class="facts small">
      ${
        model
          ? html`<dt>Model</dt>
              <dd><code>${model}</code></dd>`
          : ''
      }
      ${
        approval
          ? html`<dt>Approval</dt>
              <dd>${spec?.approve?.message ?? s?.approval?.message ?? ''}</dd>`
          : ''
      }
      ${
        deps.length
          ? html`<dt>Needs</dt>
              <dd>${deps.join(', ')}</dd>`
          : ''
      }
      <dt>Started</dt>
      <dd>${moment(s?.startedAt)}</dd>
      <dt>Elapsed</dt>
      <dd>
        ${(s?.status === 'running' || s?.status === 'waiting') && s.startedAt && v.workflowStatus === 'RUNNING' ? since(s.startedAt) : duration(s?.elapsedMs)}
      </dd>
      ${
        approval
          ? ''
          : html`<dt>Predict time</dt>
              <dd>${seconds(s?.predictTime)}</dd>`
      }
      ${
        usd !== undefined
          ? html`<dt>Cost</dt>
              <dd>${money(usd)}</dd>`
          : ''
      }
    </dl>
    ${s ? reuseNote(s, ctx) : ''} ${decision ? decisionNote(decision) : ''}
    ${s?.error && !decision ? html`<p class="error">${s.error}</p>` : ''} ${s ? children(v, s, ctx) : ''}
    ${s && status === 'waiting' ? waitingNote(v.workflowId, name, s, ctx) : ''}
    ${
      s && !approval && (s.outputs.length > 0 || entries.length > 0)
        ? outputList(s.outputs, entries, outputContext(ctx, v.workflowId), name)
        : ''
    }
    ${
      ctx.rerun && v.workflowStatus !== 'RUNNING' && s
        ? actionForm(`${pipelineHref(ctx, v.workflowId)}/rerun`, ctx.csrf, `Rerun from ${name}`, {
            fields: html`<input type="hidden" name="from" value="${name}" />`,
          })
        : ''
    }`;
}

/** The step's runs: live state while running (fan-out children), else the predictions that ran. */
function children(v: PipelineView, s: StepProgress, ctx: ViewContext): Html {
  if (s.childWorkflowIds.length === 0) return html``;
  const row = (id: string, i: number) => {
    const c: ChildView | undefined = v.children[id];
    // predictionIds line up with the children only when no run was reused
    const predictionId = c?.predictionId ?? (s.reused?.length ? null : s.predictionIds[i]) ?? null;
    return html`<li>
      <a href="${runHref(ctx, id)}">${s.childWorkflowIds.length > 1 ? `[${i}]` : 'run'}</a>
      ${c ? badge(c.status) : ''} ${predictionId ? html`<code>${predictionId}</code>` : ''}
      ${c?.queued ? html`<span class="muted">${c.queued}</span>` : ''}
      ${c?.logLine && !ENDED_CHILD.has(c.status) ? html`<code class="log-line">${c.logLine}</code>` : ''}
      ${c?.error ? html`<span class="error">${c.error}</span>` : ''}
    </li>`;
  };
  return html`<ul class="children">
    ${s.childWorkflowIds.map(row)}
  </ul>`;
}
