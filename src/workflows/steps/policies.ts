/** The pipeline's patch ids and the options of its activities (persisting outputs, writing the manifest). */
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { OutputActivities } from '../../activities/outputs';
import { PipelineFailureType } from '../../shared/failures';
import { PERSIST_ACTIVITY } from '../../shared/pipeline';

/** Patch ids: runs started before these changes replay with the old behaviour. */
export const PIPELINE_PATCHES = {
  /** fan-out: keep (and persist) the predictions that succeeded when a sibling fails; cost counts failed ones */
  keepSiblings: 'pipeline-keep-siblings-v1',
  /**
   * fail at once what Temporal would refuse on every workflow task until the timeout: a step whose resolved input
   * is over the payload limit, a pipeline id whose child ids would be over the id limit
   */
  stepChecks: 'pipeline-step-checks-v1',
} as const;

const persistOptions: ActivityOptions = {
  startToCloseTimeout: '30m',
  // the activity heartbeats every 5 s (also while a download waits); its own idle timeout ends stalled downloads
  heartbeatTimeout: PERSIST_ACTIVITY.heartbeatTimeoutMs,
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [PipelineFailureType.OutputUnavailable, PipelineFailureType.OutputTooLarge],
  },
};
export const { persistOutputs, writeManifest } = proxyActivities<OutputActivities>(persistOptions);
