/**
 * The failure converter of encrypted deployments: error messages and stack traces move into the failure's
 * `encodedAttributes` payload (which the payload codec then encrypts); the failure's own message reads
 * "Encoded failure". Loaded by path (`DataConverter.failureConverterPath`): in the workflow sandbox (it is bundled
 * with the workflows) and in the worker's and client's main thread. Only @temporalio/common: sandbox-safe.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });

/** Text a workflow bundle built with this module contains (src/encryption/bundle.ts checks prebuilt bundles). */
export const ENCRYPTED_FAILURES_MARK = 'replicate-temporal:encoded-failure-messages';
