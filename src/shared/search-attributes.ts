/**
 * Typed search attributes the workflows upsert, so runs can be filtered in the Temporal UI and found by the
 * reconciler. The worker registers them on its namespace at start (src/client/temporal-setup.ts); the dev server
 * started by the demo and the tests gets them as `--search-attribute` flags.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const ReplicatePredictionId = defineSearchAttributeKey(
  'ReplicatePredictionId',
  SearchAttributeType.KEYWORD,
);
export const ReplicateStatus = defineSearchAttributeKey('ReplicateStatus', SearchAttributeType.KEYWORD);
export const ReplicateModel = defineSearchAttributeKey('ReplicateModel', SearchAttributeType.KEYWORD);

/** Set on the child runs of a pipeline (and on the pipeline itself): filter a pipeline's runs in the UI. */
export const ReplicatePipelineId = defineSearchAttributeKey(
  'ReplicatePipelineId',
  SearchAttributeType.KEYWORD,
);

export const SEARCH_ATTRIBUTES = [
  ReplicatePredictionId,
  ReplicateStatus,
  ReplicateModel,
  ReplicatePipelineId,
];
