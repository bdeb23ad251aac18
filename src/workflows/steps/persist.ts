/** The pipeline's activities (persisting outputs, writing the manifest), with their policy from ../retry-policies.ts. */
import { proxyActivities } from '@temporalio/workflow';
import type { OutputActivities } from '../../activities/outputs';
import { persistOptions } from '../retry-policies';

export const { persistOutputs, writeManifest } = proxyActivities<OutputActivities>(persistOptions);
