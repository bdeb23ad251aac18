/**
 * The pipeline's activities (persisting outputs, writing the manifest, storing a report's large outputs), with their
 * policies from ../retry-policies.ts.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { OutputActivities } from '../../activities/outputs';
import { claimOptions, persistOptions } from '../retry-policies';

export const { persistOutputs, writeManifest } = proxyActivities<OutputActivities>(persistOptions);
export const { storeClaim } = proxyActivities<OutputActivities>({
  ...claimOptions,
  summary: 'store an output too large for the report',
});
