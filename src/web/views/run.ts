/** A run's page: what it runs, its status timeline, the log's tail, its outputs, and how it failed and why. */
import type { ManifestEntry } from '../../activities/outputs';
import { budgetLine } from '../../shared/budget';
import { html, type Html } from '../html';
import { timelineOf, type RunView } from '../read/run';
import { outputContext, pipelineHref, runHref, temporalUiLink, type ViewContext } from './context';
import { badge, moment, seconds, since } from './format';
import { actionForm, region } from './layout';
import { outputList } from './outputs';

/** The run's status in one word: the job's status while it runs, how it ended once closed. */
export function runStatus(v: RunView): string {
  if (v.outcome) return v.outcome.status.replace('_', ' ');
  if (v.workflowStatus !== 'RUNNING') return 'ended';
  if (v.state?.queue) return 'queued';
  return v.state?.status ?? 'running';
}

/**
 * Files the run's result names as kept in the output store (manifest entries), when it names any; a run's outputs
 * are otherwise shown as "not kept" (never loaded from Replicate's expiring URLs).
 */
export function runFiles(v: RunView): ManifestEntry[] {
  const files = (v.result as { files?: unknown } | null)?.files;
  return Array.isArray(files)
    ? files.filter(
        (f): f is ManifestEntry =>
          typeof f === 'object' && f !== null && typeof (f as ManifestEntry).sourceUrl === 'string',
      )
    : [];
}

export function runRegions(v: RunView, ctx: ViewContext): Record<string, Html> {
  return {
    summary: summary(v, ctx),
    actions: actions(v, ctx),
    timeline: timeline(v),
    logs: logs(v),
    outputs: outputs(v, ctx),
  };
}

export function runBody(v: RunView, ctx: ViewContext): Html {
  const r = runRegions(v, ctx);
  return html`<h1>Run <code>${v.workflowId}</code></h1>
    ${region('summary', r.summary!, 'section')} ${region('actions', r.actions!)}
    <div class="columns">
      <section aria-labelledby="timeline-title">
        <h2 id="timeline-title">Timeline</h2>
        ${region('timeline', r.timeline!)}
      </section>
      <section aria-labelledby="logs-title">
        <h2 id="logs-title">Log (last lines)</h2>
        ${region('logs', r.logs!)}
      </section>
    </div>
    <section aria-labelledby="outputs-title">
      <h2 id="outputs-title">Outputs</h2>
      ${region('outputs', r.outputs!)}
    </section>
    ${
      v.request
        ? html`<section aria-labelledby="input-title">
            <h2 id="input-title">Input</h2>
            <details class="json">
              <summary>JSON</summary>
              <pre class="text">${JSON.stringify(v.request.input, null, 2)}</pre>
            </details>
          </section>`
        : ''
    }`;
}

function summary(v: RunView, ctx: ViewContext): Html {
  const s = v.state;
  const open = v.workflowStatus === 'RUNNING';
  const predictionId = v.outcome?.predictionId ?? s?.predictionId ?? null;
  const predictTime = v.outcome?.metrics?.predict_time ?? v.result?.metrics.predict_time;
  const error = v.outcome?.error ?? null;
  return html`<dl class="facts">
      <dt>Status</dt>
      <dd>${badge(runStatus(v))}</dd>
      <dt>Model</dt>
      <dd>
        <code>${v.request?.model ?? s?.model ?? '-'}</code>${v.request?.deployment ? ' (deployment)' : ''}
      </dd>
      <dt>Prediction</dt>
      <dd>
        ${predictionId ? html`<code>${predictionId}</code>` : html`<span class="muted">not created yet</span>`}
      </dd>
      ${
        v.pipelineId
          ? html`<dt>Pipeline</dt>
              <dd><a href="${pipelineHref(ctx, v.pipelineId)}">${v.pipelineId}</a></dd>`
          : ''
      }
      <dt>Started</dt>
      <dd>${moment(v.startTime)}</dd>
      <dt>${open ? 'Running for' : 'Ended'}</dt>
      <dd>${open ? since(v.startTime) : moment(v.closeTime)}</dd>
      ${
        s?.queue
          ? html`<dt>Queue</dt>
              <dd>
                ${s.queue.position === null ? 'waiting for a slot' : `position ${s.queue.position} for ${s.queue.key} (limit ${s.queue.limit})`}
              </dd>`
          : ''
      }
      ${
        open && s
          ? html`<dt>Polls</dt>
              <dd>${s.polls}, next ${moment(s.nextPollAt)}</dd>`
          : ''
      }
      ${
        open && s
          ? html`<dt>Deadline</dt>
              <dd>${moment(s.deadline)}</dd>`
          : ''
      }
      <dt>Predict time</dt>
      <dd>${seconds(predictTime)}</dd>
      ${
        s?.budget
          ? html`<dt>Budget</dt>
              <dd>${budgetLine(s.budget, Date.now())}</dd>`
          : ''
      }
    </dl>
    ${
      error
        ? html`<div class="error" role="alert">
            <p><strong>${error.type}</strong>: ${error.message}</p>
            ${v.explanation ? html`<p>${v.explanation}</p>` : ''}
          </div>`
        : ''
    }
    ${s?.pollError && open ? html`<p class="notice">The last poll failed (the run keeps polling): ${s.pollError}</p>` : ''}
    ${v.problem ? html`<p class="notice">${v.problem}</p>` : ''}`;
}

function actions(v: RunView, ctx: ViewContext): Html {
  const ui = temporalUiLink(ctx, v.workflowId);
  return html`<div class="actions">
    ${
      v.workflowStatus === 'RUNNING'
        ? actionForm(`${runHref(ctx, v.workflowId)}/cancel`, ctx.csrf, 'Cancel run', {
            confirm: 'Cancel this run and its prediction at Replicate?',
            className: 'danger',
          })
        : ''
    }
    ${ui ? html`<a href="${ui}" rel="noreferrer" target="_blank">Open in the Temporal UI</a>` : ''}
  </div>`;
}

function timeline(v: RunView): Html {
  return html`<ol class="timeline">
    ${timelineOf(v).map((e) => html`<li>${badge(e.label)} ${moment(e.at)}</li>`)}
  </ol>`;
}

function logs(v: RunView): Html {
  const lines = v.state?.logsTail.length ? v.state.logsTail : (v.outcome?.error?.logsTail ?? []);
  if (lines.length === 0)
    return html`<p class="muted">
      ${v.workflowStatus === 'RUNNING' ? 'No log lines yet.' : 'No log lines kept (the tail is kept while a run is live and with its failure).'}
    </p>`;
  return html`<pre class="logs">${lines.join('\n')}</pre>`;
}

function outputs(v: RunView, ctx: ViewContext): Html {
  if (!v.outcome) return html`<p class="muted">Outputs appear here when the run succeeds.</p>`;
  if (v.outcome.status !== 'succeeded')
    return html`<p class="muted">No outputs: the run did not succeed.</p>`;
  const output = v.outcome.output;
  return outputList(
    Array.isArray(output) ? output : [output],
    runFiles(v),
    outputContext(ctx, null),
    'the run',
  );
}
