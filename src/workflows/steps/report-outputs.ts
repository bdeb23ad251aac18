/**
 * A step's outputs as the pipeline's report keeps them: inline within the report's budget, the others stored out of
 * band by an activity (claim checks), so that the report (the result, the failure details) stays under Temporal's
 * 2 MB payload limit. The templating views keep the full values. Deterministic code only.
 */
import { CancellationScope, log } from '@temporalio/workflow';
import { reportInline, type ClaimRef, type OmittedOutput } from '../../shared/claims';
import { flattenOutputs } from '../../shared/pipeline';
import { messageOf } from './failures';
import { storeClaim } from './persist';

/** What the report's outputs of one pipeline run hold inline so far, bytes of JSON. */
export interface ReportBudget {
  inlineBytes: number;
}

/**
 * The report's `outputs` of a step from its predictions' outputs (in fan-out order): flattened, with a claim
 * reference (`flatten: true`) in place of each output that does not fit. Stored even when the pipeline is being
 * canceled (the report is its last word); an output that cannot be stored is left out with a note.
 */
export async function reportOutputs(
  budget: ReportBudget,
  step: string,
  outputs: unknown[],
): Promise<unknown[]> {
  const { inline, usedBytes } = reportInline(outputs, budget.inlineBytes);
  budget.inlineBytes = usedBytes;
  const kept = await Promise.all(
    outputs.map(async (output, i): Promise<unknown> => {
      if (inline[i]) return output;
      try {
        const ref: ClaimRef = await CancellationScope.nonCancellable(() => storeClaim(output));
        return { ...ref, flatten: true };
      } catch (error) {
        const omitted: OmittedOutput = {
          $omitted: `output [${i}] of step ${step} is too large for the report and could not be stored: ${messageOf(error)}`,
        };
        log.warn(omitted.$omitted, { step });
        return omitted;
      }
    }),
  );
  return flattenOutputs(kept);
}
