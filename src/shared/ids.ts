/** Workflow and pipeline ids: what Temporal accepts, checked before a start so the user gets a usage error. */

/** Temporal's default limit on a workflow id (`limit.maxIDLength`), in bytes. */
export const MAX_WORKFLOW_ID_BYTES = 1000;

/** The problem with `id` as a workflow (or pipeline) id given by `flag`, or null when it is fine. */
export function workflowIdProblem(id: string, flag: string): string | null {
  if (id.trim() === '') return `${flag}: must not be empty`;
  const bytes = new TextEncoder().encode(id).length;
  if (bytes > MAX_WORKFLOW_ID_BYTES)
    return `${flag}: ${bytes} bytes is over Temporal's ${MAX_WORKFLOW_ID_BYTES}-byte limit; use a shorter id`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(id)) return `${flag}: must not contain control characters`;
  return null;
}
