/**
 * The pipeline's activities (persisting outputs and their records, writing the manifest, storing a report's large
 * outputs, reusing earlier results, staging chained input files), with their policies from ../retry-policies.ts.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { OutputActivities } from '../../activities/outputs';
import { claimOptions, persistOptions, reuseOptions, stageOptions } from '../retry-policies';

export const { persistOutputs, writeManifest } = proxyActivities<OutputActivities>(persistOptions);
export const { storeClaim } = proxyActivities<OutputActivities>({
  ...claimOptions,
  summary: 'store an output too large for the report',
});
export const { reuseRuns } = proxyActivities<OutputActivities>({
  ...reuseOptions,
  summary: 'reuse earlier results (rerun, result cache)',
});
export const { stageInputFiles } = proxyActivities<Activities>({
  ...stageOptions,
  summary: "make an earlier step's output files reachable for this step's input",
});
