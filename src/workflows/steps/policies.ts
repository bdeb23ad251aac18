/** The options of a pipeline's activities (persisting outputs, writing the manifest). */
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { OutputActivities } from '../../activities/outputs';
import { PipelineFailureType } from '../../shared/failures';
import { PERSIST_ACTIVITY } from '../../shared/pipeline';

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
