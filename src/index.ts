/**
 * `replicate-temporal`: durable Replicate predictions on Temporal. The root entry holds what every part shares:
 * configuration readers, failure type names, request/result types, search-attribute setup and the claim-check
 * helpers. The parts have their own entries: `replicate-temporal/workflows` (runPrediction, runTraining,
 * runPipeline: import them in your workflow code), `/activities` (createActivities: spread into your worker),
 * `/client` (start, watch and cancel from a Temporal Client), `/webhooks` (a handler for your HTTP server).
 * Encryption at rest: `createDataConverter({ keys: readEncryptionKeys()! })` for every Client and Worker
 * (docs/encryption.md); `startCodecServer` serves the same keys to the Temporal CLI and UI.
 */
export {
  ConfigError,
  DEFAULT_BASE_URL,
  readEncryptionKeys,
  readTemporalConfig,
  readWebhookConfig,
  readWorkerConfig,
  type TemporalConfig,
  type WebhookConfig,
  type WorkerConfig,
} from './config';
export {
  BudgetFailureType,
  NON_RETRYABLE_REPLICATE_ERRORS,
  PipelineFailureType,
  PredictionFailureType,
  ReplicateErrorType,
  ReplicateTransientType,
} from './shared/failures';
export {
  ReplicateModel,
  ReplicatePipelineId,
  ReplicatePredictionId,
  ReplicateStatus,
  SEARCH_ATTRIBUTES,
} from './shared/search-attributes';
export {
  ensureReconcilerSchedule,
  ensureSearchAttributes,
  RECONCILE_SCHEDULE_ID,
} from './client/temporal-setup';
export { isClaimRef, MAX_INLINE_OUTPUT_BYTES, type ClaimRef } from './shared/claims';
export {
  claimKey,
  fileClaimStore,
  readOutputClaim,
  resolveClaims,
  type ClaimKey,
  type ClaimStore,
} from './activities/claims';
export type {
  JobKind,
  PollingOptions,
  PredictionFailureDetails,
  PredictionMetrics,
  PredictionRequest,
  PredictionResult,
  PredictionSnapshot,
  PredictionState,
  PredictionStatus,
  TrainingRequest,
} from './shared/types';
export {
  bundleOptions,
  createDataConverter,
  ENCRYPTED_FAILURE_CONVERTER_PATH,
  type DataConverterOptions,
} from './encryption/data-converter';
export { DecryptionError, EncryptionCodec } from './encryption/codec';
export { encryptionKeyId, type EncryptionKeys } from './encryption/keys';
export {
  startCodecServer,
  type CodecServerOptions,
  type RunningCodecServer,
} from './encryption/codec-server';
export { readCodecServerConfig, type CodecServerConfig } from './config/codec-server';
