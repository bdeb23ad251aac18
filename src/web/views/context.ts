/** What the live views need besides the data: links, the CSRF token (null in live updates), and the actions on. */
import type { ManifestEntry } from '../../activities/outputs';
import type { OutputContext } from './outputs';

export interface ViewContext {
  basePath: string;
  /** the output store's key of a kept file (of the pipeline `pipelineId`, when it is a pipeline's) */
  storeKey(entry: ManifestEntry, pipelineId: string | null): string;
  /** the visitor's token in a page; null in a live update (the script fills in the page's own) */
  csrf: string | null;
  /** the Temporal UI's base URL, for links to a workflow there */
  temporalUiUrl: string | null;
  namespace: string;
  /** approving a waiting step (the `approveStep` update) and rerunning a pipeline from a step */
  approvals: boolean;
  rerun: boolean;
  /** the CLI as the commands shown beside the buttons write it (`npx replicate-temporal`) */
  cli: string;
}

export function temporalUiLink(ctx: ViewContext, workflowId: string): string | null {
  return ctx.temporalUiUrl
    ? `${ctx.temporalUiUrl}/namespaces/${encodeURIComponent(ctx.namespace)}/workflows/${encodeURIComponent(workflowId)}`
    : null;
}

export const runHref = (ctx: { basePath: string }, id: string) =>
  `${ctx.basePath}/runs/${encodeURIComponent(id)}`;
export const pipelineHref = (ctx: { basePath: string }, id: string) =>
  `${ctx.basePath}/pipelines/${encodeURIComponent(id)}`;

/** How the outputs of `pipelineId` (null: a run's) find their files in the store. */
export function outputContext(ctx: ViewContext, pipelineId: string | null): OutputContext {
  return { basePath: ctx.basePath, keyOf: (entry) => ctx.storeKey(entry, pipelineId) };
}
