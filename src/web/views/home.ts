/** The home page: filters, and the recent pipelines and runs (a live region, refreshed at the list's cadence). */
import { html, type Html } from '../html';
import { EXECUTION_STATUS, type ListFilter, type ListRow } from '../read/list';
import { outputContext, pipelineHref, runHref, type ViewContext } from './context';
import { badge, duration, money, moment, seconds } from './format';
import { thumbnail } from './outputs';
import { region } from './layout';

export function homeBody(
  list: { rows: ListRow[]; problem: string | null },
  filter: ListFilter,
  ctx: ViewContext,
): Html {
  return html`<h1>Generations</h1>
    ${filters(filter, ctx)} ${region('list', listRegion(list, ctx), 'section')}`;
}

function filters(f: ListFilter, ctx: ViewContext): Html {
  return html`<form class="filters" method="get" action="${ctx.basePath}/" role="search">
    <label>
      Status
      <select name="status">
        <option value="">any</option>
        ${Object.keys(EXECUTION_STATUS).map(
          (s) => html`<option value="${s}" ${f.status === s ? html`selected` : ''}>${s}</option>`,
        )}
      </select>
    </label>
    <label>Model <input type="text" name="model" value="${f.model ?? ''}" placeholder="owner/name" /></label>
    <label
      >Pipeline <input type="text" name="pipeline" value="${f.pipeline ?? ''}" placeholder="name"
    /></label>
    <label
      >Id <input type="search" name="q" value="${f.q ?? ''}" placeholder="workflow or prediction id"
    /></label>
    <button type="submit">Filter</button>
  </form>`;
}

export function listRegion(list: { rows: ListRow[]; problem: string | null }, ctx: ViewContext): Html {
  if (list.problem) return html`<p class="error" role="alert">${list.problem}</p>`;
  if (list.rows.length === 0) return html`<p class="muted">Nothing here yet: start a run or a pipeline.</p>`;
  return html`<table class="list">
    <caption class="visually-hidden">
      Recent pipelines and runs, newest first
    </caption>
    <thead>
      <tr>
        <th scope="col"><span class="visually-hidden">Picture</span></th>
        <th scope="col">Id</th>
        <th scope="col">Status</th>
        <th scope="col">Model or steps</th>
        <th scope="col">Started</th>
        <th scope="col">Took</th>
        <th scope="col">Cost</th>
      </tr>
    </thead>
    <tbody>
      ${list.rows.map((r) => row(r, ctx))}
    </tbody>
  </table>`;
}

function row(r: ListRow, ctx: ViewContext): Html {
  const href = r.kind === 'pipeline' ? pipelineHref(ctx, r.workflowId) : runHref(ctx, r.workflowId);
  const took = r.closeTime ? Date.parse(r.closeTime) - Date.parse(r.startTime) : null;
  return html`<tr>
    <td class="thumb">
      ${
        r.thumbnail
          ? thumbnail(
              r.thumbnail,
              `first picture of ${r.workflowId}`,
              outputContext(ctx, r.kind === 'pipeline' ? r.workflowId : null),
            )
          : ''
      }
    </td>
    <td>
      <span class="kind">${r.kind}</span> <a href="${href}">${r.workflowId}</a>
      ${r.predictionId ? html`<br /><code class="muted">${r.predictionId}</code>` : ''}
    </td>
    <td>${badge(r.status)}</td>
    <td>
      ${
        r.steps
          ? html`<ul class="step-summary">
              ${r.steps.map((s) => html`<li>${s.name} ${badge(s.status)}</li>`)}
            </ul>`
          : html`<code>${r.model ?? '-'}</code>`
      }
    </td>
    <td>${moment(r.startTime)}</td>
    <td>${r.closeTime ? duration(took) : html`<span class="muted">running</span>`}</td>
    <td>${r.costUsd !== null ? money(r.costUsd) : seconds(r.predictTime)}</td>
  </tr>`;
}
